"""Lead claiming in SQL: due, blacklist, attempts, calling hours in the lead's zone, no sharing."""

from __future__ import annotations

import asyncio
import datetime as dt
from datetime import UTC, datetime

import asyncpg

from ccd.store.claim import claim_lead, claim_leads, unclaim
from tests.dialer.helpers import add_leads, make_campaign, phones

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


async def test_claims_due_leads_in_priority_order_and_writes_attempts(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(pool)
    ids = await add_leads(pool, cid, phones(3))
    await pool.execute("UPDATE leads SET priority = 5 WHERE id = $1", ids[2])
    await pool.execute("UPDATE leads SET next_attempt_at = $2 WHERE id = $1", ids[1],
                       NOW + dt.timedelta(hours=1))  # fmt: skip
    got = await claim_leads(pool, cid, 10, NOW)
    assert [c.lead_id for c in got] == [ids[2], ids[0]]
    assert all(c.attempts == 1 for c in got)
    rows = await pool.fetch("SELECT lead_id, state FROM attempts ORDER BY lead_id")
    assert [(r["lead_id"], r["state"]) for r in rows] == [(ids[0], "pending"), (ids[2], "pending")]
    status = await pool.fetchval("SELECT status FROM leads WHERE id = $1", ids[0])
    assert status == "in_progress"
    assert await claim_leads(pool, cid, 10, NOW) == []  # in progress: never twice


async def test_claim_order_is_priority_then_due_time_then_id_through_the_batch(
    pool: asyncpg.Pool,
) -> None:
    cid = await make_campaign(pool)
    due = NOW - dt.timedelta(hours=3)
    # Written in reverse id order, so the table's physical order (what an index scan returns
    # for equal keys) is the opposite of the id order the claim must follow.
    ids = list(range(1012, 1000, -1))
    nums = phones(len(ids))
    for lead_id, phone in zip(ids, nums, strict=True):
        await pool.execute(
            "INSERT INTO leads (id, campaign_id, phone, next_attempt_at) VALUES ($1, $2, $3, $4)",
            lead_id, cid, phone, due,
        )  # fmt: skip
    # Due times: 1001..1004 due at `due`; 1005..1008 earlier, latest id first; 1009..1012 at
    # `due` but priority 2.
    for k, lead_id in enumerate((1008, 1007, 1006, 1005)):
        await pool.execute("UPDATE leads SET next_attempt_at = $2 WHERE id = $1", lead_id,
                           due - dt.timedelta(minutes=40 - 10 * k))  # fmt: skip
    await pool.execute("UPDATE leads SET priority = 2 WHERE id BETWEEN 1009 AND 1012")
    expected = [1009, 1010, 1011, 1012, 1008, 1007, 1006, 1005, 1001, 1002, 1003, 1004]
    # A batch smaller than the due leads takes the first ones, in that order...
    first = await claim_leads(pool, cid, 6, NOW)
    assert [c.lead_id for c in first] == expected[:6]
    # ...and the next batch the rest, still in order.
    rest = await claim_leads(pool, cid, 50, NOW)
    assert [c.lead_id for c in rest] == expected[6:]


async def test_equal_priority_and_due_time_go_by_id(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(pool)
    for lead_id, phone in zip((3, 2, 1), phones(3), strict=True):  # physical order 3, 2, 1
        await pool.execute(
            "INSERT INTO leads (id, campaign_id, phone, next_attempt_at) VALUES ($1, $2, $3, $4)",
            lead_id, cid, phone, NOW - dt.timedelta(hours=1),
        )  # fmt: skip
    await pool.execute("ANALYZE leads")
    assert [c.lead_id for c in await claim_leads(pool, cid, 2, NOW)] == [1, 2]


async def test_never_blacklisted_exhausted_or_other_campaigns(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(pool, max_attempts=2)
    other = await make_campaign(pool, "other")
    ids = await add_leads(pool, cid, phones(3))
    await add_leads(pool, other, phones(1, 100))
    await pool.execute("INSERT INTO blacklist (phone, reason) VALUES ($1, 'dnc')", phones(1)[0])
    await pool.execute("UPDATE leads SET attempts = 2, status = 'retry' WHERE id = $1", ids[1])
    got = await claim_leads(pool, cid, 10, NOW)
    assert [c.lead_id for c in got] == [ids[2]]


async def test_calling_hours_in_the_leads_own_zone(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(
        pool, calling_hours_start=dt.time(9), calling_hours_end=dt.time(21), time_zone="UTC"
    )
    moscow, vladivostok, unknown = await add_leads(pool, cid, phones(3))
    await pool.execute("UPDATE leads SET time_zone = 'Europe/Moscow' WHERE id = $1", moscow)
    await pool.execute("UPDATE leads SET time_zone = 'Asia/Vladivostok' WHERE id = $1",
                       vladivostok)  # fmt: skip
    # 20:00 UTC: 23:00 in Moscow, 06:00 in Vladivostok, 20:00 for the unknown (campaign zone).
    evening = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    assert [c.lead_id for c in await claim_leads(pool, cid, 10, evening)] == [unknown]
    # 23:30 UTC: 09:30 in Vladivostok.
    later = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert [c.lead_id for c in await claim_leads(pool, cid, 10, later)] == [vladivostok]
    # Next morning 06:00 UTC: 09:00 in Moscow.
    morning = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert [c.lead_id for c in await claim_leads(pool, cid, 10, morning)] == [moscow]


async def test_calling_days_and_windows_over_midnight(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(
        pool, calling_hours_start=dt.time(22), calling_hours_end=dt.time(2), calling_days=[1],
        time_zone="UTC",
    )  # fmt: skip
    (lead,) = await add_leads(pool, cid, phones(1))
    sunday_night = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert await claim_leads(pool, cid, 1, sunday_night) == []
    tuesday_1am = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Monday's window, after midnight
    assert [c.lead_id for c in await claim_leads(pool, cid, 1, tuesday_1am)] == [lead]


async def test_manual_pick_and_unclaim(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(pool, mode="MANUAL")
    a, b = await add_leads(pool, cid, phones(2))
    await pool.execute("UPDATE leads SET next_attempt_at = $2 WHERE id = $1", b,
                       NOW + dt.timedelta(days=1))  # fmt: skip
    got = await claim_lead(pool, cid, b, NOW)  # not due, but the agent may dial it
    assert got is not None and got.lead_id == b
    assert await claim_lead(pool, cid, b, NOW) is None
    await unclaim(pool, [got])
    row = await pool.fetchrow("SELECT status, attempts FROM leads WHERE id = $1", b)
    assert (row["status"], row["attempts"]) == ("new", 0)
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 0


async def test_concurrent_claimers_never_share_a_lead(pool: asyncpg.Pool) -> None:
    cid = await make_campaign(pool)
    await add_leads(pool, cid, phones(3000))

    async def claimer() -> list[int]:
        mine: list[int] = []
        while batch := await claim_leads(pool, cid, 50, NOW):
            mine.extend(c.lead_id for c in batch)
        return mine

    results = await asyncio.gather(*(claimer() for _ in range(6)))
    every = [lead for r in results for lead in r]
    assert len(every) == 3000 and len(set(every)) == 3000
    assert sum(1 for r in results if r) >= 2  # really concurrent


async def test_a_contacts_call_opt_out_stops_dialing_and_an_opt_in_resumes(
    pool: asyncpg.Pool,
) -> None:
    cid = await make_campaign(pool)
    ids = await add_leads(pool, cid, phones(2))
    contact = await pool.fetchval(
        "INSERT INTO contacts (phone) VALUES ($1) RETURNING id", phones(1)[0]
    )
    await pool.execute("UPDATE leads SET contact_id = $1 WHERE id = $2", contact, ids[0])
    opt = (
        "INSERT INTO consent_events (contact_id, channel, purpose, status, method)"
        " VALUES ($1, $2, 'marketing', $3, 'agent')"
    )
    await pool.execute(opt, contact, "sms", "opt_out")  # another channel: no effect on calls
    await pool.execute(opt, contact, "call", "opt_out")
    assert [c.lead_id for c in await claim_leads(pool, cid, 10, NOW)] == [ids[1]]
    await pool.execute(opt, contact, "call", "opt_in")
    assert [c.lead_id for c in await claim_leads(pool, cid, 10, NOW)] == [ids[0]]
