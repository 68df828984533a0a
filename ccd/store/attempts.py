"""Attempt rows through their life, and the one-disposition-per-attempt rule in SQL.

An attempt's disposition is written by `UPDATE ... WHERE disposition IS NULL` (or, for an
agent's disposition of a call they talked on, over an automatic one), so however often a
crash makes us repeat ourselves, the first writer wins and the lead follows that disposition
exactly once: the lead update, the blacklist row and the attempt update share one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ccd.domain.dispositions import (
    Disposition,
    DispositionSource,
    LeadUpdate,
    RetryRules,
    apply_disposition,
)


@dataclass(frozen=True, slots=True)
class EndFacts:
    """What the call's end tells; outcome is the engine's verdict (may be DROPPED or LOST)."""

    at: datetime
    outcome: str
    node: str | None = None
    cause: int | None = None
    cause_txt: str | None = None
    sip_code: int | None = None
    dial_status: str | None = None
    amd_status: str | None = None
    amd_cause: str | None = None
    tone: str | None = None
    answered_at: datetime | None = None
    agent_id: int | None = None  # set when the call reached an agent
    bridged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DispositionWrite:
    disposition: Disposition
    source: DispositionSource
    lead: LeadUpdate
    callback_at: datetime | None = None
    note: str | None = None


async def mark_dialing(
    conn: asyncpg.Connection | asyncpg.Pool,
    rows: Sequence[tuple[str, int | None]],
    at: datetime,
) -> None:
    """(attempt_id, trunk_id) pairs about to be originated: one round trip per batch."""
    await conn.execute(
        """
        UPDATE attempts a SET state = 'dialing', trunk_id = x.trunk_id, originated_at = $3
        FROM unnest($1::uuid[], $2::int[]) AS x(id, trunk_id)
        WHERE a.id = x.id AND a.state = 'pending'
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        at,
    )


async def mark_answered(
    conn: asyncpg.Connection | asyncpg.Pool, attempt_id: str, at: datetime, node: str
) -> None:
    await conn.execute(
        "UPDATE attempts SET state = 'answered', answered_at = $2, node = $3"
        " WHERE id = $1 AND state IN ('pending', 'dialing')",
        attempt_id, at, node,
    )  # fmt: skip


async def mark_bridged(
    conn: asyncpg.Connection | asyncpg.Pool,
    attempt_id: str,
    agent_id: int,
    at: datetime,
    answered_at: datetime | None,
) -> None:
    """The call reached its agent; the answer time goes with it, so a process killed during
    the talk leaves a row the reconciler can settle as a talked call."""
    await conn.execute(
        "UPDATE attempts SET state = 'bridged', bridged_at = $3, agent_id = $2,"
        " answered_at = coalesce(answered_at, $4) WHERE id = $1 AND ended_at IS NULL",
        attempt_id, agent_id, at, answered_at,
    )  # fmt: skip


_FINISH = """
WITH a AS (
    UPDATE attempts SET
        state = 'ended', ended_at = $2::timestamptz, outcome = $3, node = coalesce($4, node),
        cause = $5, cause_txt = $19, sip_code = $6, dial_status = $7, amd_status = $8,
        amd_cause = $9, tone = $10, answered_at = coalesce(answered_at, $11),
        agent_id = coalesce($17, agent_id), bridged_at = coalesce($18, bridged_at),
        disposition = $12, disposition_source = $13,
        disposition_at = CASE WHEN $12::text IS NULL THEN NULL ELSE $2::timestamptz END
    WHERE id = $1 AND ended_at IS NULL
    RETURNING lead_id, phone
),
l AS (
    UPDATE leads SET status = $14, next_attempt_at = coalesce($15, next_attempt_at),
        last_disposition = $12
    FROM a WHERE leads.id = a.lead_id AND $12::text IS NOT NULL
),
b AS (
    INSERT INTO blacklist (phone, reason, source)
    SELECT a.phone, $16, 'auto' FROM a WHERE $16::text IS NOT NULL
    ON CONFLICT (phone) DO NOTHING
)
SELECT count(*) FROM a
"""


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool,
    attempt_id: str,
    facts: EndFacts,
    dispo: DispositionWrite | None,
) -> bool:
    """End the attempt (and, when known now, disposition it and move its lead) at once.

    False when the attempt had already ended (a repeat after a reconnect or a restart).
    """
    lead = dispo.lead if dispo else None
    n = await conn.fetchval(
        _FINISH,
        attempt_id, facts.at, facts.outcome, facts.node, facts.cause, facts.sip_code,
        facts.dial_status, facts.amd_status, facts.amd_cause, facts.tone, facts.answered_at,
        dispo.disposition.value if dispo else None,
        dispo.source.value if dispo else None,
        lead.status.value if lead else None,
        lead.next_attempt_at if lead else None,
        lead.blacklist.value if lead and lead.blacklist else None,
        facts.agent_id, facts.bridged_at, facts.cause_txt,
    )  # fmt: skip
    return bool(n)


_DISPOSE = """
WITH a AS (
    UPDATE attempts SET disposition = $2, disposition_source = $3,
        disposition_at = $4::timestamptz, callback_at = $5, note = coalesce($6, note),
        wrapup_ended_at = CASE WHEN bridged_at IS NULL THEN NULL ELSE $4 END
    WHERE id = $1 AND ended_at IS NOT NULL
      AND (disposition IS NULL
           OR ($3 = 'agent' AND disposition_source = 'auto' AND bridged_at IS NOT NULL))
    RETURNING lead_id, phone, agent_id
),
l AS (
    -- A replaced automatic disposition may have let the lead be claimed again already: then
    -- the newer attempt decides the lead's future.
    UPDATE leads SET status = $7, next_attempt_at = coalesce($8, next_attempt_at),
        last_disposition = $2,
        -- the agent who booked a callback owns the contact (their MANUAL worklist)
        agent_id = CASE WHEN $7 = 'callback' AND $3 = 'agent' THEN a.agent_id
                        ELSE leads.agent_id END
    FROM a WHERE leads.id = a.lead_id AND (leads.status = 'in_progress' OR $3 = 'agent')
      AND NOT EXISTS (SELECT 1 FROM attempts x WHERE x.lead_id = a.lead_id AND x.ended_at IS NULL)
),
b AS (
    INSERT INTO blacklist (phone, reason, source)
    SELECT a.phone, $9, $3 FROM a WHERE $9::text IS NOT NULL
    ON CONFLICT (phone) DO NOTHING
)
SELECT count(*) FROM a
"""


async def dispose(
    pool: asyncpg.Pool,
    attempt_id: str,
    disposition: Disposition,
    source: DispositionSource,
    now: datetime,
    *,
    callback_at: datetime | None = None,
    note: str | None = None,
) -> bool:
    """Set the disposition of an ended attempt and move its lead; False if one was set already.

    An agent's disposition of a bridged call replaces an automatic one (wrap-up timeout);
    everything else is first writer wins. The lead's future is computed from the campaign's
    rules (one read), then the attempt, the lead and the blacklist change in one statement.
    """
    row = await pool.fetchrow(
        """
        SELECT l.attempts, c.max_attempts, c.retry_rules
        FROM attempts a JOIN leads l ON l.id = a.lead_id
        JOIN campaigns c ON c.id = a.campaign_id
        WHERE a.id = $1
        """,
        attempt_id,
    )
    if row is None:
        raise LookupError(f"no attempt {attempt_id}")
    lead = apply_disposition(
        disposition,
        now=now,
        attempts_made=row["attempts"],
        max_attempts=row["max_attempts"],
        rules=RetryRules.model_validate(row["retry_rules"] or {}),
        callback_at=callback_at,
    )
    n = await pool.fetchval(
        _DISPOSE,
        attempt_id, disposition.value, source.value, now, callback_at, note,
        lead.status.value, lead.next_attempt_at,
        lead.blacklist.value if lead.blacklist is not None else None,
    )  # fmt: skip
    return bool(n)


async def unended(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """Attempts not ended, oldest first (reconciliation)."""
    return await conn.fetch(
        "SELECT id::text AS id, campaign_id, lead_id, node, state, created_at, agent_id"
        " FROM attempts WHERE ended_at IS NULL ORDER BY created_at"
    )


async def undisposed(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """Ended attempts still owing a disposition (an agent's wrap-up cut short by a crash)."""
    return await conn.fetch(
        "SELECT id::text AS id, outcome, ended_at, bridged_at IS NOT NULL AS bridged FROM attempts"
        " WHERE ended_at IS NOT NULL AND disposition IS NULL ORDER BY ended_at"
    )
