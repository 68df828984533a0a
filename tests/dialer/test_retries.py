"""What a lead's next call is after each automatic disposition: the due time the rules give
(default or the campaign's --retry-rule), to the second, and `exhausted` at max attempts.

The engine runs against the double with a ManualClock: the end of a call is written at the
clock's time, so a due time is exactly that time plus the rule's delay.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from ccd.dialer.clock import ManualClock
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from tests.dialer.conftest import EngineFactory, all_disposed, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _leads(pool: asyncpg.Pool, campaign_id: int) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT phone, status, attempts, next_attempt_at, last_disposition FROM leads"
        " WHERE campaign_id = $1",
        campaign_id,
    )
    return {r["phone"]: r for r in rows}


async def _attempts(pool: asyncpg.Pool, campaign_id: int) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1", campaign_id)
    )


async def test_no_answer_busy_and_voicemail_are_called_again_two_hours_later(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=5, max_ratio=5, amd=True)
    noans, busy, machine = phones(3)
    double.program(noans, FarEnd.no_answer())
    double.program(busy, FarEnd.busy(after=0.5))
    double.program(machine, FarEnd.machine(after=1.0, hangup_after=30))
    await add_leads(pool, cid, [noans, busy, machine])
    agent, _ = await add_agent(pool, "a0", "Agent", "PJSIP/agent101")
    clock = ManualClock(START)
    engine = await make_engine(clock=clock)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: all_disposed(pool, cid, 3), what="three dispositions")
    leads = await _leads(pool, cid)
    two_hours = START + timedelta(hours=2)
    assert {p: (r["last_disposition"], r["status"], r["next_attempt_at"])
            for p, r in leads.items()} == {
        noans: ("NO_ANSWER", "retry", two_hours),
        busy: ("BUSY", "retry", two_hours),
        machine: ("VOICEMAIL", "retry", two_hours),
    }  # fmt: skip
    # Not a second before: nothing is dialed; at the due time, all three are.
    clock.set(two_hours - timedelta(seconds=1))
    await asyncio.sleep(0.4)
    assert await _attempts(pool, cid) == 3
    clock.set(two_hours)
    await eventually(lambda: all_disposed(pool, cid, 6), what="the three second calls")


async def test_retry_rules_set_the_delay_and_max_attempts_end_in_exhausted(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    rules = {"rules": {"NO_ANSWER": {"action": "retry", "delay_s": 600},
                       "BUSY": {"action": "retry", "delay_s": 2700}}}  # fmt: skip
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=5, max_ratio=5, max_attempts=2,
                              retry_rules=rules)  # fmt: skip
    noans, busy = phones(2)
    double.program(noans, FarEnd.no_answer())
    double.program(busy, FarEnd.busy(after=0.5))
    await add_leads(pool, cid, [noans, busy])
    agent, _ = await add_agent(pool, "a0", "Agent", "PJSIP/agent101")
    clock = ManualClock(START)
    engine = await make_engine(clock=clock)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: all_disposed(pool, cid, 2), what="the first two calls")
    leads = await _leads(pool, cid)
    assert (leads[noans]["status"], leads[noans]["next_attempt_at"]) == (
        "retry", START + timedelta(minutes=10))
    assert (leads[busy]["status"], leads[busy]["next_attempt_at"]) == (
        "retry", START + timedelta(minutes=45))

    # 10 minutes on: the unanswered number is due, the busy one is not.
    clock.set(START + timedelta(minutes=10))
    await eventually(lambda: all_disposed(pool, cid, 3), what="the second call to noans")
    await asyncio.sleep(0.3)
    leads = await _leads(pool, cid)
    assert (leads[noans]["status"], leads[noans]["attempts"]) == ("exhausted", 2)
    assert (leads[busy]["status"], leads[busy]["attempts"]) == ("retry", 1)
    assert await _attempts(pool, cid) == 3

    clock.set(START + timedelta(minutes=45))
    await eventually(lambda: all_disposed(pool, cid, 4), what="the second call to busy")
    leads = await _leads(pool, cid)
    assert (leads[busy]["status"], leads[busy]["attempts"]) == ("exhausted", 2)
    # Exhausted leads are never dialed again.
    clock.set(START + timedelta(days=2))
    await asyncio.sleep(0.4)
    assert await _attempts(pool, cid) == 4
