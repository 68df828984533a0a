"""Call recording rows: started, finished (or reconciled), paused and resumed, listed for
supervisors, every play and download logged, pruned by retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from ccd.domain.recording import DEFAULT_RETENTION_DAYS
from ccd.store.db import AnyConnection

Conn = AnyConnection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class NewRecording:
    name: str
    call_id: str  # the recorded customer channel
    node: str
    instance: str
    format: str
    started_at: datetime
    attempt_id: str | None = None
    campaign_id: int | None = None
    agent_id: int | None = None
    caller: str | None = None


async def started(conn: Conn, r: NewRecording) -> None:
    await conn.execute(
        """
        INSERT INTO recordings (name, call_id, kind, caller, attempt_id, campaign_id, agent_id,
            node, instance, format, state, started_at)
        VALUES ($1, $2, 'call', $3, $4, $5, $6, $7, $8, $9, 'recording', $10)
        """,
        r.name, r.call_id, r.caller, r.attempt_id, r.campaign_id, r.agent_id, r.node,
        r.instance, r.format, r.started_at,
    )  # fmt: skip


async def finished(
    conn: Conn,
    name: str,
    *,
    state: str,
    ended_at: datetime,
    duration_s: float | None = None,
    size_bytes: int | None = None,
    reconciled: bool = False,
    note: str | None = None,
) -> bool:
    """Close a recording that is still 'recording'; False when it was closed already."""
    status: str = await conn.execute(
        """
        UPDATE recordings SET state = $2, ended_at = $3, duration_s = $4, size_bytes = $5,
            reconciled = $6, note = $7
        WHERE name = $1 AND state = 'recording'
        """,
        name, state, ended_at,
        None if duration_s is None else Decimal(str(round(duration_s, 2))),
        size_bytes, reconciled, note,
    )  # fmt: skip
    # Pauses left open by a call that ended paused close with the recording.
    await conn.execute(
        "UPDATE recording_pauses SET resumed_at = $2 WHERE name = $1 AND resumed_at IS NULL",
        name, ended_at,
    )  # fmt: skip
    return status.endswith(" 1")


async def unfinished(conn: Conn) -> list[asyncpg.Record]:
    """Call recordings still 'recording' (live, or cut by a crash)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT name, call_id, node, format, instance FROM recordings"
        " WHERE state = 'recording' AND kind = 'call'"
    )
    return rows


async def paused(conn: Conn, name: str, login: str, at: datetime, *, pause: bool) -> bool:
    """Open (pause) or close (resume) the recording's pause; False when it already was."""
    if pause:
        status: str = await conn.execute(
            "INSERT INTO recording_pauses (name, paused_at, paused_by) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) WHERE resumed_at IS NULL DO NOTHING",
            name, at, login,
        )  # fmt: skip
    else:
        status = await conn.execute(
            "UPDATE recording_pauses SET resumed_at = $2, resumed_by = $3"
            " WHERE name = $1 AND resumed_at IS NULL",
            name, at, login,
        )  # fmt: skip
    return status.endswith(" 1")


async def gaps(conn: Conn, name: str) -> list[dict[str, Any]]:
    """The recording's paused intervals: when, by whom, seconds from the recording's start."""
    rows = await conn.fetch(
        """
        SELECT p.paused_at, p.resumed_at, p.paused_by, p.resumed_by,
               extract(epoch FROM p.paused_at - r.started_at) AS from_s,
               extract(epoch FROM p.resumed_at - r.started_at) AS to_s
        FROM recording_pauses p JOIN recordings r ON r.name = p.name
        WHERE p.name = $1 ORDER BY p.paused_at
        """,
        name,
    )
    return [
        {
            "paused_at": r["paused_at"].isoformat(),
            "resumed_at": r["resumed_at"].isoformat() if r["resumed_at"] else None,
            "paused_by": r["paused_by"],
            "resumed_by": r["resumed_by"],
            "from_s": round(float(r["from_s"]), 2),
            "to_s": None if r["to_s"] is None else round(float(r["to_s"]), 2),
        }
        for r in rows
    ]


_SELECT = """
    SELECT r.name, r.kind, r.call_id, r.attempt_id::text AS attempt_id, r.campaign_id,
           c.name AS campaign, r.agent_id, ag.name AS agent, r.node, r.format, r.state,
           r.started_at, r.ended_at, r.duration_s, r.size_bytes, r.reconciled, r.pruned_at,
           r.note, coalesce(a.disposition, i.disposition) AS disposition,
           coalesce(l.phone, r.caller) AS phone
    FROM recordings r
    LEFT JOIN campaigns c ON c.id = r.campaign_id
    LEFT JOIN agents ag ON ag.id = r.agent_id
    LEFT JOIN attempts a ON a.id = r.attempt_id
    LEFT JOIN leads l ON l.id = a.lead_id
    LEFT JOIN inbound_calls i ON i.id = r.call_id AND r.attempt_id IS NULL
"""


@dataclass(frozen=True, slots=True)
class Filter:
    campaign: str | None = None
    agent_id: int | None = None
    day: date | None = None
    disposition: str | None = None
    limit: int = 100


async def search(conn: Conn, f: Filter) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _SELECT
        + """
    WHERE r.kind = 'call'
      AND ($1::text IS NULL OR c.name = $1)
      AND ($2::int IS NULL OR r.agent_id = $2)
      AND ($3::date IS NULL OR (r.started_at >= $3::date AND r.started_at < $3::date + 1))
      AND ($4::text IS NULL OR coalesce(a.disposition, i.disposition) = $4)
    ORDER BY r.started_at DESC LIMIT $5
    """,
        f.campaign, f.agent_id, f.day, f.disposition, f.limit,
    )  # fmt: skip
    return rows


async def get(conn: Conn, name: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(_SELECT + " WHERE r.name = $1", name)
    return row


async def accessed(conn: Conn, name: str, user_id: int | None, login: str, action: str) -> None:
    await conn.execute(
        "INSERT INTO recording_access (name, user_id, login, action) VALUES ($1, $2, $3, $4)",
        name, user_id, login, action,
    )  # fmt: skip


async def expired(conn: Conn, now: datetime) -> list[asyncpg.Record]:
    """Finished recordings older than their campaign's retention (90 days without one)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT r.name, r.node FROM recordings r LEFT JOIN campaigns c ON c.id = r.campaign_id
        WHERE r.kind = 'call' AND r.state = 'done' AND r.pruned_at IS NULL
          AND r.started_at < $1::timestamptz
              - make_interval(days => coalesce(c.recording_retention_days, $2::int))
        ORDER BY r.started_at
        """,
        now, DEFAULT_RETENTION_DAYS,
    )  # fmt: skip
    return rows


async def pruned(conn: Conn, name: str, at: datetime, *, found: bool) -> None:
    """Mark a recording whose file retention deleted (found) or that the node no longer had."""
    await conn.execute(
        "UPDATE recordings SET state = $2, pruned_at = $3, note = $4 WHERE name = $1",
        name, "pruned" if found else "missing", at,
        None if found else "the node no longer had the file at prune",
    )  # fmt: skip
