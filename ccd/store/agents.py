"""Agents in PostgreSQL: accounts, API tokens (sha256 only), state and its log."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ccd.domain.agents import AgentState, Transition
from ccd.store.db import AnyConnection


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: int
    login: str
    name: str
    endpoint: str
    state: AgentState
    campaign_ids: frozenset[int]


class DuplicateAgent(ValueError):
    pass


async def add_agent(
    conn: AnyConnection | asyncpg.Pool,
    login: str,
    name: str,
    endpoint: str,
    campaign_ids: tuple[int, ...] = (),
) -> tuple[int, str]:
    """Create an agent; returns (id, token). The token is shown once, only its hash is kept."""
    token = new_token()
    async with _acquire(conn) as c, c.transaction():
        try:
            agent_id = await c.fetchval(
                "INSERT INTO agents (login, name, endpoint, token_hash) VALUES ($1, $2, $3, $4)"
                " RETURNING id",
                login, name, endpoint, hash_token(token),
            )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            field = "endpoint" if "endpoint" in (exc.constraint_name or "") else "login"
            raise DuplicateAgent(f"an agent with this {field} already exists") from None
        if campaign_ids:
            await c.executemany(
                "INSERT INTO campaign_agents (campaign_id, agent_id) VALUES ($1, $2)",
                [(cid, agent_id) for cid in campaign_ids],
            )
    return agent_id, token


async def set_token(conn: AnyConnection | asyncpg.Pool, agent_id: int) -> str:
    token = new_token()
    await conn.execute(
        "UPDATE agents SET token_hash = $2 WHERE id = $1", agent_id, hash_token(token)
    )
    return token


_SELECT = """
SELECT a.id, a.login, a.name, a.endpoint, a.state,
       coalesce(array_agg(ca.campaign_id) FILTER (WHERE ca.campaign_id IS NOT NULL), '{}') AS cids
FROM agents a LEFT JOIN campaign_agents ca ON ca.agent_id = a.id
"""


def _row(r: asyncpg.Record) -> AgentRow:
    return AgentRow(
        r["id"], r["login"], r["name"], r["endpoint"], AgentState(r["state"]), frozenset(r["cids"])
    )


async def get_agent(conn: asyncpg.Connection | asyncpg.Pool, agent_id: int) -> AgentRow | None:
    r = await conn.fetchrow(_SELECT + " WHERE a.id = $1 GROUP BY a.id", agent_id)
    return _row(r) if r else None


async def agent_by_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> AgentRow | None:
    r = await conn.fetchrow(_SELECT + " WHERE a.token_hash = $1 GROUP BY a.id", hash_token(token))
    return _row(r) if r else None


async def list_agents(conn: asyncpg.Connection | asyncpg.Pool) -> list[AgentRow]:
    return [_row(r) for r in await conn.fetch(_SELECT + " GROUP BY a.id ORDER BY a.id")]


_RECORD_TRANSITIONS = """
WITH t AS (
    SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::uuid[])
        WITH ORDINALITY AS t(agent_id, at, from_state, to_state, event, reason, attempt_id, n)
),
logged AS (
    INSERT INTO agent_state_log (agent_id, at, from_state, to_state, event, reason, attempt_id)
    SELECT agent_id, at, from_state, to_state, event, reason, attempt_id FROM t ORDER BY n
),
became_ready AS (
    SELECT DISTINCT ON (agent_id) agent_id, at FROM t
    WHERE to_state = 'READY' AND from_state <> 'READY' ORDER BY agent_id, n DESC
),
latest AS (
    SELECT DISTINCT ON (agent_id) agent_id, at, to_state, reason FROM t ORDER BY agent_id, n DESC
)
UPDATE agents a SET state = latest.to_state, state_reason = latest.reason,
    state_since = latest.at,
    idle_since = CASE WHEN latest.to_state = 'READY' THEN coalesce(r.at, a.idle_since) END,
    node = CASE WHEN latest.to_state <> 'LOGGED_OUT' THEN a.node END
FROM latest LEFT JOIN became_ready r USING (agent_id)
WHERE a.id = latest.agent_id
"""


async def record_transitions(
    conn: asyncpg.Connection | asyncpg.Pool, changes: Sequence[tuple[Transition, datetime]]
) -> None:
    """Persist state changes, oldest first, in one statement: a log row each, and each agent's
    current state (and since when it is idle) from its latest change."""
    await conn.execute(
        _RECORD_TRANSITIONS,
        [t.agent_id for t, _ in changes],
        [at for _, at in changes],
        [t.from_state.value for t, _ in changes],
        [t.to_state.value for t, _ in changes],
        [t.event.value for t, _ in changes],
        [t.reason for t, _ in changes],
        [t.attempt_id for t, _ in changes],
    )


async def set_node(conn: asyncpg.Connection | asyncpg.Pool, agent_id: int, node: str) -> None:
    """The Asterisk node the agent's phone leg and bridge are on, for this login."""
    await conn.execute("UPDATE agents SET node = $2 WHERE id = $1", agent_id, node)


async def logged_in_agents(conn: asyncpg.Connection | asyncpg.Pool) -> list[int]:
    """Agents the database believes logged in (for reconciliation after a restart)."""
    rows = await conn.fetch("SELECT id FROM agents WHERE state <> 'LOGGED_OUT'")
    return [r["id"] for r in rows]


class _acquire:
    """`async with` a connection from a pool, or the connection itself."""

    def __init__(self, conn: AnyConnection | asyncpg.Pool) -> None:
        self._conn = conn
        self._held: PoolConnectionProxy | None = None

    async def __aenter__(self) -> AnyConnection:
        if isinstance(self._conn, asyncpg.Pool):
            self._held = await self._conn.acquire()
            return self._held
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        if self._held is not None:
            assert isinstance(self._conn, asyncpg.Pool)
            await self._conn.release(self._held)
