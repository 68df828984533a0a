"""Inbound in PostgreSQL: DID routes, one row per inbound call, its IVR steps, recordings.

inbound_calls.id is the Asterisk channel id. The row is written when the call enters, updated
as it joins and leaves a queue and reaches an agent, and closed with exactly one outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ccd.store.db import AnyConnection

Conn = AnyConnection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class InboundRoute:
    did: str
    flow: str
    campaign_id: int | None


class UnknownCampaign(ValueError):
    pass


# --- routes ---


async def add_route(conn: Conn, did: str, flow: str, campaign_id: int | None = None) -> None:
    """Map a DID to a flow; an existing mapping of the DID is replaced."""
    try:
        await conn.execute(
            """
            INSERT INTO inbound_routes (did, flow, campaign_id) VALUES ($1, $2, $3)
            ON CONFLICT (did) DO UPDATE SET flow = EXCLUDED.flow, campaign_id = EXCLUDED.campaign_id
            """,
            did, flow, campaign_id,
        )  # fmt: skip
    except asyncpg.ForeignKeyViolationError:
        raise UnknownCampaign(f"no campaign with id {campaign_id}") from None


async def remove_route(conn: Conn, did: str) -> bool:
    status = await conn.execute("DELETE FROM inbound_routes WHERE did = $1", did)
    return status != "DELETE 0"


async def list_routes(conn: Conn) -> list[InboundRoute]:
    rows = await conn.fetch("SELECT did, flow, campaign_id FROM inbound_routes ORDER BY did")
    return [InboundRoute(r["did"], r["flow"], r["campaign_id"]) for r in rows]


async def route_for(conn: Conn, did: str) -> InboundRoute | None:
    r = await conn.fetchrow("SELECT did, flow, campaign_id FROM inbound_routes WHERE did = $1", did)
    return InboundRoute(r["did"], r["flow"], r["campaign_id"]) if r else None


async def campaign_id_by_name(conn: Conn, name: str) -> int | None:
    campaign_id: int | None = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", name)
    return campaign_id


async def existing_campaigns(conn: Conn, names: Iterable[str]) -> set[str]:
    """Those of `names` that are campaigns."""
    rows = await conn.fetch("SELECT name FROM campaigns WHERE name = ANY($1)", list(names))
    return {r["name"] for r in rows}


# --- calls ---


async def call_started(
    conn: Conn,
    call_id: str,
    *,
    node: str,
    did: str,
    caller: str,
    flow: str | None,
    campaign_id: int | None,
    at: datetime,
) -> None:
    # A re-delivered CallEntered (reconnect) must not fail: the first row wins.
    await conn.execute(
        """
        INSERT INTO inbound_calls (id, node, did, caller, flow, campaign_id, started_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING
        """,
        call_id, node, did, caller, flow, campaign_id, at,
    )  # fmt: skip


async def add_step(
    conn: Conn,
    call_id: str,
    *,
    node: str,
    kind: str,
    at: datetime,
    input: str | None = None,
    result: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO ivr_steps (call_id, at, node, kind, input, result)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        call_id, at, node, kind, input, result,
    )  # fmt: skip


async def queued(conn: Conn, call_id: str, *, queue: str, priority: int, at: datetime) -> None:
    """Joined a queue; a second queue node (or a return to the queue) keeps the first entry time."""
    await conn.execute(
        """
        UPDATE inbound_calls SET queue = $2, queue_priority = $3,
            queued_at = coalesce(queued_at, $4), dequeued_at = NULL
        WHERE id = $1
        """,
        call_id, queue, priority, at,
    )  # fmt: skip


async def dequeued(conn: Conn, call_id: str, *, at: datetime) -> None:
    await conn.execute("UPDATE inbound_calls SET dequeued_at = $2 WHERE id = $1", call_id, at)


async def answered(conn: Conn, call_id: str, *, agent_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE inbound_calls SET agent_id = $2, answered_at = $3, dequeued_at = $3 WHERE id = $1",
        call_id, agent_id, at,
    )  # fmt: skip


async def call_ended(
    conn: Conn, call_id: str, *, outcome: str, at: datetime, variables: dict[str, Any]
) -> None:
    """Close the call with its one outcome; a call already closed keeps its first outcome."""
    await conn.execute(
        """
        UPDATE inbound_calls SET outcome = $2, ended_at = $3, variables = $4,
            dequeued_at = CASE WHEN queued_at IS NOT NULL THEN coalesce(dequeued_at, $3) END
        WHERE id = $1 AND outcome IS NULL
        """,
        call_id, outcome, at, variables,
    )  # fmt: skip


async def dispose(
    conn: Conn,
    call_id: str,
    disposition: str,
    source: str,
    at: datetime,
    *,
    callback_at: datetime | None = None,
    note: str | None = None,
) -> bool:
    """Set the call's disposition: an agent's replaces an automatic one, nothing replaces an
    agent's, and an automatic one is written only where there is none. False if refused."""
    status = await conn.execute(
        """
        UPDATE inbound_calls SET disposition = $2, disposition_source = $3, disposition_at = $4,
            callback_at = $5, note = $6
        WHERE id = $1 AND (disposition IS NULL OR ($3 = 'agent' AND disposition_source = 'auto'))
        """,
        call_id, disposition, source, at, callback_at, note,
    )  # fmt: skip
    return status != "UPDATE 0"


async def last_call_of_agent(conn: Conn, agent_id: int) -> str | None:
    """The agent's latest finished inbound call, unless an outbound call reached the agent
    after it ended (then that one is the agent's last call)."""
    call_id: str | None = await conn.fetchval(
        """
        SELECT i.id FROM inbound_calls i
        WHERE i.agent_id = $1 AND i.answered_at IS NOT NULL AND i.ended_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM attempts a
                          WHERE a.agent_id = $1 AND a.bridged_at >= i.ended_at
                            -- no call rings for an hour: keeps to the (agent, created) index
                            AND a.created_at >= i.answered_at - interval '1 hour')
        ORDER BY i.answered_at DESC LIMIT 1
        """,
        agent_id,
    )
    return call_id


async def call_known(conn: Conn, call_id: str) -> bool:
    """Whether the call has a row (some process started its flow)."""
    return bool(await conn.fetchval("SELECT 1 FROM inbound_calls WHERE id = $1", call_id))


async def open_calls(conn: Conn, node: str) -> list[str]:
    """Calls of `node` with no outcome yet (for reconciliation after a (re)connect)."""
    rows = await conn.fetch(
        "SELECT id FROM inbound_calls WHERE node = $1 AND outcome IS NULL", node
    )
    return [r["id"] for r in rows]


async def add_recording(conn: Conn, name: str, *, call_id: str, kind: str, caller: str) -> None:
    await conn.execute(
        "INSERT INTO recordings (name, call_id, kind, caller) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name) DO NOTHING",
        name, call_id, kind, caller,
    )  # fmt: skip


async def request_callback(
    conn: Conn, campaign_id: int, phone: str, note: str, due: datetime | None = None
) -> int:
    """A CALLBACK lead for `phone`, due at `due` (default now); an existing lead of that
    number is reopened."""
    lead_id: int = await conn.fetchval(
        """
        INSERT INTO leads (campaign_id, phone, name, status, next_attempt_at, fields)
        VALUES ($1, $2, '', 'callback', coalesce($4, now()), jsonb_build_object('source', $3::text))
        ON CONFLICT (campaign_id, phone) DO UPDATE
            SET status = 'callback', next_attempt_at = coalesce($4, now()),
                fields = leads.fields || jsonb_build_object('source', $3::text)
        RETURNING id
        """,
        campaign_id, phone, note, due,
    )  # fmt: skip
    return lead_id


async def contact_for(conn: Conn, phone: str, campaign_id: int | None) -> asyncpg.Record | None:
    """The lead of this number, that of the call's campaign first, else the newest one.
    Through the (campaign_id, phone) index, as the blacklist does: leads have none on phone."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT id, campaign_id, phone, name, fields FROM leads
        WHERE campaign_id IN (SELECT id FROM campaigns) AND phone = $1
        ORDER BY campaign_id IS NOT DISTINCT FROM $2 DESC, id DESC LIMIT 1
        """,
        phone, campaign_id,
    )  # fmt: skip
    return row
