"""Lead claiming: one statement picks due leads, marks them in_progress and writes their attempts.

`FOR UPDATE SKIP LOCKED` lets any number of runners (in one ccd or several on one database)
claim from one campaign without waiting on each other and without ever sharing a lead; the
lead's status flips to in_progress and its attempt row (state pending, id = the future ARI
channel id) is inserted in the same statement, so a crash leaves either nothing or both.
The unique index on live attempts per lead backs this up.

Never claimed: leads whose number is on the global blacklist (bad numbers, fax, DNC), leads
whose person (contact) has opted out of marketing calls (their newest consent row), leads
out of attempts (callbacks excepted: the agent booked them), not yet due, or outside the
campaign's calling hours and days in the lead's own zone (the campaign's zone when unknown),
with the same semantics as ccd.domain.calling_hours (end excluded; a window over midnight
belongs to the weekday it opened on).

Leads are claimed, and returned, in dialing order: highest priority, then longest due, then
lowest id (load order); ix_leads_due holds them in that order, so the pick sorts nothing.

Each claimed lead says whether one of its calls was DROPPED (answered, no agent) in the last
REPEAT_AFTER_DROP: such a number may be called again only with an agent reserved for it
(the UK's 72-hour rule); the runner decides what to do with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

REPEAT_AFTER_DROP = timedelta(hours=72)

_HOURS = """
    AND CASE WHEN c.calling_hours_start < c.calling_hours_end THEN
             (lt.t::time >= c.calling_hours_start AND lt.t::time < c.calling_hours_end
              AND extract(isodow FROM lt.t)::smallint = ANY (c.calling_days))
        ELSE (lt.t::time >= c.calling_hours_start
              AND extract(isodow FROM lt.t)::smallint = ANY (c.calling_days))
          OR (lt.t::time < c.calling_hours_end
              AND extract(isodow FROM lt.t - interval '1 day')::smallint = ANY (c.calling_days))
        END
"""

_CLAIM = """
WITH picked AS (
    SELECT l.id, l.status AS prior_status
    FROM leads l
    JOIN campaigns c ON c.id = l.campaign_id
    CROSS JOIN LATERAL (
        SELECT $2::timestamptz AT TIME ZONE coalesce(l.time_zone, c.time_zone) AS t
    ) lt
    WHERE l.campaign_id = $1
      AND l.status IN ('new', 'retry', 'callback')
      {due}
      AND (l.attempts < c.max_attempts OR l.status = 'callback')
      AND NOT EXISTS (SELECT 1 FROM blacklist b WHERE b.phone = l.phone)
      AND (SELECT ce.status FROM consent_events ce WHERE ce.contact_id = l.contact_id
             AND ce.channel = 'call' AND ce.purpose = 'marketing'
           ORDER BY ce.id DESC LIMIT 1) IS DISTINCT FROM 'opt_out'
      {hours}
    ORDER BY l.priority DESC, l.next_attempt_at, l.id
    LIMIT $3
    FOR UPDATE OF l SKIP LOCKED
),
claimed AS (
    UPDATE leads l
    SET status = 'in_progress', attempts = l.attempts + 1, last_attempt_at = $2
    FROM picked
    WHERE l.id = picked.id
    RETURNING l.id, l.phone, l.name, l.fields, l.attempts, l.priority, l.next_attempt_at,
              l.time_zone, picked.prior_status
),
inserted AS (
    INSERT INTO attempts (id, campaign_id, lead_id, phone, agent_id, created_at, state)
    SELECT gen_random_uuid(), $1, claimed.id, claimed.phone, $4::int, $2, 'pending'
    FROM claimed
    RETURNING id, lead_id
)
SELECT inserted.id::text AS attempt_id, claimed.*,
       EXISTS (SELECT 1 FROM attempts a
               WHERE a.lead_id = claimed.id AND a.outcome = 'DROPPED'
                 AND a.ended_at > $2 - {window}::interval) AS after_drop
FROM inserted JOIN claimed ON claimed.id = inserted.lead_id
ORDER BY claimed.priority DESC, claimed.next_attempt_at, claimed.id
"""

CLAIM_DUE = _CLAIM.format(due="AND l.next_attempt_at <= $2", hours=_HOURS, window="$5")
# An agent's own pick in a MANUAL campaign: due or not (the agent decides), but never
# blacklisted, exhausted or outside calling hours.
CLAIM_ONE = _CLAIM.format(due="AND l.id = $5", hours=_HOURS, window="$6")


@dataclass(frozen=True, slots=True)
class ClaimedLead:
    attempt_id: str
    lead_id: int
    phone: str
    name: str
    fields: dict[str, Any]
    attempts: int  # including this one
    prior_status: str
    after_drop: bool = False  # a call to it was DROPPED within REPEAT_AFTER_DROP


def _claimed(r: asyncpg.Record) -> ClaimedLead:
    return ClaimedLead(
        r["attempt_id"], r["id"], r["phone"], r["name"], r["fields"], r["attempts"],
        r["prior_status"], r["after_drop"],
    )  # fmt: skip


async def claim_leads(
    conn: asyncpg.Connection | asyncpg.Pool,
    campaign_id: int,
    limit: int,
    now: datetime,
    *,
    agent_id: int | None = None,
) -> list[ClaimedLead]:
    """Claim up to `limit` due leads in the order they are to be dialed: highest priority,
    then longest due, then oldest (lowest id) first."""
    if limit <= 0:
        return []
    rows = await conn.fetch(CLAIM_DUE, campaign_id, now, limit, agent_id, REPEAT_AFTER_DROP)
    return [_claimed(r) for r in rows]


async def claim_lead(
    conn: asyncpg.Connection | asyncpg.Pool,
    campaign_id: int,
    lead_id: int,
    now: datetime,
    *,
    agent_id: int | None = None,
) -> ClaimedLead | None:
    """Claim one given lead (MANUAL dial); None when it may not be dialed now."""
    rows = await conn.fetch(CLAIM_ONE, campaign_id, now, 1, agent_id, lead_id, REPEAT_AFTER_DROP)
    return _claimed(rows[0]) if rows else None


async def unclaim(
    conn: asyncpg.Connection | asyncpg.Pool,
    leads: list[ClaimedLead],
    *,
    due_at: datetime | None = None,
) -> None:
    """Give back leads claimed but never dialed (no trunk, no PBX): no attempt is counted.
    With due_at they are due again only then (not at once, ahead of the others)."""
    if not leads:
        return
    await conn.execute(
        """
        WITH gone AS (
            DELETE FROM attempts a USING unnest($1::uuid[]) AS x(id)
            WHERE a.id = x.id AND a.state IN ('pending', 'dialing')
            RETURNING a.lead_id
        )
        UPDATE leads l SET status = p.prior, attempts = l.attempts - 1,
            next_attempt_at = coalesce($4, l.next_attempt_at)
        FROM gone JOIN unnest($2::bigint[], $3::text[]) AS p(id, prior) ON p.id = gone.lead_id
        WHERE l.id = gone.lead_id
        """,
        [c.attempt_id for c in leads],
        [c.lead_id for c in leads],
        [c.prior_status for c in leads],
        due_at,
    )
