"""Queries over the reporting functions of migration 0002 (see docs/reporting.md).

Each report asks the range function (`report_x(from_day, to_day)`), never the all-history view,
so the day range reaches the index on the timestamp columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from ccd.store.db import AnyConnection


@dataclass(frozen=True)
class Report:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class ReportError(Exception):
    """A report that cannot run as asked (unknown campaign or agent, bad range)."""


async def campaign_id(conn: asyncpg.Connection, name: str) -> int:
    cid = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", name)
    if cid is None:
        known = await conn.fetch("SELECT name FROM campaigns ORDER BY name LIMIT 20")
        hint = ", ".join(r["name"] for r in known) or "none yet"
        raise ReportError(f"no campaign named {name!r} (campaigns: {hint})")
    return int(cid)


async def mailing_id(conn: AnyConnection, name: str) -> int:
    mid = await conn.fetchval("SELECT id FROM mailings WHERE name = $1", name)
    if mid is None:
        known = await conn.fetch("SELECT name FROM mailings ORDER BY name LIMIT 20")
        hint = ", ".join(r["name"] for r in known) or "none yet"
        raise ReportError(f"no mailing named {name!r} (mailings: {hint})")
    return int(mid)


async def mailing_summary(conn: AnyConnection, name: str) -> Report:
    """The mailing_report view for one mailing: per segment and channel, planned, sent,
    delivered, failed, expired, unknown, left out, opt-outs through its messages' links, the
    pages of delivered faxes, the SMS parts sent (what carriers bill) and replies (SMS from the
    contact within 7 days after the mailing's SMS to them)."""
    await mailing_id(conn, name)
    columns = ["segment", "channel", "planned", "sent", "delivered", "failed", "expired",
               "unknown", "left_out", "opted_out", "fax_pages", "parts", "replies"]  # fmt: skip
    rows = await conn.fetch(
        f"SELECT {', '.join(columns)} FROM mailing_report WHERE mailing = $1"
        " ORDER BY segment NULLS LAST, channel NULLS LAST",
        name,
    )
    return Report(columns, [tuple(r) for r in rows])


def _check_range(d_from: date, d_to: date) -> None:
    if d_from > d_to:
        raise ReportError(f"--from {d_from} is after --to {d_to}")


async def _fetch(conn: asyncpg.Connection, query: str, *args: Any) -> Report:
    async with conn.transaction(readonly=True):
        # The planner's cost for these aggregates is high enough to trigger JIT compilation,
        # which takes longer (0.3-0.9 s) than the query it would speed up.
        await conn.execute("SET LOCAL jit = off")
        stmt = await conn.prepare(query)
        columns = [a.name for a in stmt.get_attributes()]
        return Report(columns, [tuple(r) for r in await stmt.fetch(*args)])


async def campaign_daily(
    conn: asyncpg.Connection, campaign: str, d_from: date, d_to: date
) -> Report:
    """One row per day of the campaign (days with no attempts are absent)."""
    _check_range(d_from, d_to)
    cid = await campaign_id(conn, campaign)
    return await _fetch(
        conn,
        "SELECT * FROM report_campaign_daily($2, $3) WHERE campaign_id = $1 ORDER BY day",
        cid, d_from, d_to,
    )  # fmt: skip


async def agent_daily(
    conn: asyncpg.Connection,
    d_from: date,
    d_to: date,
    *,
    campaign: str | None = None,
    agent: str | None = None,
) -> Report:
    """One row per agent and day with logged-in time; narrowed to a campaign's agents
    (campaign_agents) and/or one agent login."""
    _check_range(d_from, d_to)
    cid = await campaign_id(conn, campaign) if campaign is not None else None
    if agent is not None and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM agents WHERE login = $1)", agent
    ):
        raise ReportError(f"no agent with login {agent!r}")
    return await _fetch(
        conn,
        "SELECT * FROM report_agent_daily($1, $2) r"
        " WHERE ($3::int IS NULL OR r.agent_id IN"
        "        (SELECT agent_id FROM campaign_agents WHERE campaign_id = $3))"
        "   AND ($4::text IS NULL OR r.login = $4)"
        " ORDER BY r.day, r.login",
        d_from, d_to, cid, agent,
    )  # fmt: skip


async def hourly_outcomes(
    conn: asyncpg.Connection, campaign: str, d_from: date, d_to: date
) -> Report:
    """Attempts per day, hour and outcome, with each outcome's share of its hour."""
    _check_range(d_from, d_to)
    cid = await campaign_id(conn, campaign)
    return await _fetch(
        conn,
        "SELECT * FROM report_hourly_outcomes($2, $3) WHERE campaign_id = $1"
        " ORDER BY day, hour, outcome",
        cid, d_from, d_to,
    )  # fmt: skip


async def list_penetration(conn: asyncpg.Connection, campaign: str | None = None) -> Report:
    """Leads by status per campaign (all campaigns when `campaign` is None)."""
    cid = await campaign_id(conn, campaign) if campaign is not None else None
    return await _fetch(
        conn,
        "SELECT * FROM report_list_penetration WHERE $1::int IS NULL OR campaign_id = $1"
        " ORDER BY campaign",
        cid,
    )


async def trunk_daily(conn: asyncpg.Connection, d_from: date, d_to: date) -> Report:
    """Attempts, answers and failures per trunk and day."""
    _check_range(d_from, d_to)
    return await _fetch(
        conn, "SELECT * FROM report_trunk_daily($1, $2) ORDER BY day, trunk", d_from, d_to
    )


async def queue_hourly(
    conn: asyncpg.Connection, d_from: date, d_to: date, *, queue: str | None, sl_s: int
) -> Report:
    """Inbound service level per queue and hour (answered within `sl_s` seconds)."""
    _check_range(d_from, d_to)
    if sl_s < 1:
        raise ReportError(f"--sl {sl_s}: the service-level threshold must be at least 1 s")
    return await _fetch(
        conn,
        "SELECT * FROM report_queue_hourly($1, $2, $3) WHERE $4::text IS NULL OR queue = $4"
        " ORDER BY queue, hour_start",
        d_from, d_to, sl_s, queue,
    )  # fmt: skip
