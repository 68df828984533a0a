"""Agents in PostgreSQL: accounts, API tokens (sha256 only), state and its log.

An agent's API token works until its expiry (TOKEN_TTL unless told; `ccd agent token` issues a
new one), while the agent is enabled and while the user linked to it (if any) is not disabled.
Whatever ends a token NOTIFYs SESSION_CHANNEL, so running daemons close its WebSockets.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ccd.domain.agents import AgentState, Transition
from ccd.domain.names import check_one_line
from ccd.store.db import AnyConnection

TOKEN_TTL = timedelta(days=90)
# NOTIFY channel on which logouts, disabled accounts and new tokens are announced, so running
# daemons close the WebSockets of tokens that stopped working (ccd.api.session_watch).
SESSION_CHANNEL = "ccd_sessions"


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
    enabled: bool = True
    token_expires_at: datetime | None = None


class AgentError(ValueError):
    """Bad input for an agent; the message names the field."""


class DuplicateAgent(AgentError):
    pass


async def add_agent(
    conn: AnyConnection | asyncpg.Pool,
    login: str,
    name: str,
    endpoint: str,
    campaign_ids: tuple[int, ...] = (),
    *,
    token_ttl: timedelta = TOKEN_TTL,
) -> tuple[int, str]:
    """Create an agent; returns (id, token). The token is shown once, only its hash is kept."""
    for field, value in (("login", login), ("name", name), ("endpoint", endpoint)):
        try:
            check_one_line(value)
        except ValueError as exc:
            raise AgentError(f"{field}: {exc}") from None
    token = new_token()
    async with acquire(conn) as c, c.transaction():
        try:
            agent_id = await c.fetchval(
                "INSERT INTO agents (login, name, endpoint, token_hash, token_expires_at)"
                " VALUES ($1, $2, $3, $4, now() + $5) RETURNING id",
                login, name, endpoint, hash_token(token), token_ttl,
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


async def set_token(
    conn: AnyConnection | asyncpg.Pool, agent_id: int, *, token_ttl: timedelta = TOKEN_TTL
) -> str:
    """A new token for the agent (the old one stops working, its sockets close)."""
    token = new_token()
    async with acquire(conn) as c, c.transaction():
        await c.execute(
            "UPDATE agents SET token_hash = $2, token_expires_at = now() + $3 WHERE id = $1",
            agent_id, hash_token(token), token_ttl,
        )  # fmt: skip
        await notify_sessions_ended(c)
    return token


async def set_enabled(conn: asyncpg.Connection | asyncpg.Pool, login: str, enabled: bool) -> int:
    """Enable or disable an agent by login; returns its id, LookupError when there is none.
    A disabled agent's token and its user's sessions are refused, its sockets close."""
    async with acquire(conn) as c, c.transaction():
        agent_id: int | None = await c.fetchval(
            "UPDATE agents SET enabled = $2 WHERE login = $1 RETURNING id", login, enabled
        )
        if agent_id is None:
            raise LookupError(f"no agent {login!r}")
        await notify_sessions_ended(c)
    return agent_id


async def disabled_among(conn: AnyConnection | asyncpg.Pool, agent_ids: list[int]) -> list[int]:
    """Those of `agent_ids` that are disabled, or whose linked user is."""
    rows = await conn.fetch(
        "SELECT a.id FROM agents a WHERE a.id = ANY($1) AND (NOT a.enabled"
        " OR EXISTS (SELECT 1 FROM users u WHERE u.agent_id = a.id AND u.disabled))",
        agent_ids,
    )
    return [int(r["id"]) for r in rows]


async def notify_sessions_ended(conn: AnyConnection | asyncpg.Pool) -> None:
    """Tell running daemons that some tokens may have stopped working (delivered at commit)."""
    await conn.execute("SELECT pg_notify($1, '')", SESSION_CHANNEL)


_SELECT = """
SELECT a.id, a.login, a.name, a.endpoint, a.state, a.enabled, a.token_expires_at,
       coalesce(array_agg(ca.campaign_id) FILTER (WHERE ca.campaign_id IS NOT NULL), '{}') AS cids
FROM agents a LEFT JOIN campaign_agents ca ON ca.agent_id = a.id
"""


def _row(r: asyncpg.Record) -> AgentRow:
    return AgentRow(
        r["id"], r["login"], r["name"], r["endpoint"], AgentState(r["state"]),
        frozenset(r["cids"]), r["enabled"], r["token_expires_at"],
    )  # fmt: skip


async def get_agent(conn: asyncpg.Connection | asyncpg.Pool, agent_id: int) -> AgentRow | None:
    r = await conn.fetchrow(_SELECT + " WHERE a.id = $1 GROUP BY a.id", agent_id)
    return _row(r) if r else None


async def agent_by_token(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> AgentRow | None:
    """The agent whose token this is, while the token may be used (see the module doc)."""
    r = await conn.fetchrow(
        _SELECT + " WHERE a.token_hash = $1 AND a.enabled"
        " AND (a.token_expires_at IS NULL OR a.token_expires_at > now())"
        " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.agent_id = a.id AND u.disabled)"
        " GROUP BY a.id",
        hash_token(token),
    )
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


class acquire:
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
