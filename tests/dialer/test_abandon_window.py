"""The running campaign's pacer holds the abandon rate over the campaign's window."""

from __future__ import annotations

import asyncpg
import pytest

from ccd.pacing.predictive import ErlangPacer
from ccd.sim.asterisk import AsteriskDouble
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones


async def _history(pool: asyncpg.Pool, cid: int, lead: int, age: str, outcome: str, n: int) -> None:
    await pool.execute(
        """
        INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, answered_at,
                              bridged_at, ended_at, outcome)
        SELECT gen_random_uuid(), $1, $2, '+74950000000', 'ended', t, t,
               CASE WHEN $4 = 'ANSWERED' THEN t END, t, $4
        FROM (SELECT now() - $3::text::interval AS t) v, generate_series(1, $5)
        """,
        cid, lead, age, outcome, n,
    )  # fmt: skip


@pytest.mark.parametrize(("window", "expected"), [("24h", (100, 10)), ("30d", (200, 60))])
async def test_the_pacer_is_given_the_windows_answers_and_drops_from_before_it_started(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory, window: str,
    expected: tuple[int, int],
) -> None:  # fmt: skip
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="erlang", abandon_window=window)
    (lead,) = await add_leads(pool, cid, phones(1))
    await _history(pool, cid, lead, "3 hours", "ANSWERED", 90)
    await _history(pool, cid, lead, "3 hours", "DROPPED", 10)
    await _history(pool, cid, lead, "2 days", "ANSWERED", 50)
    await _history(pool, cid, lead, "2 days", "DROPPED", 50)
    await _history(pool, cid, lead, "40 days", "DROPPED", 500)
    engine = await make_engine()
    await start_campaign(pool, "c1")

    async def counted() -> ErlangPacer | None:
        runner = engine.supervisor.runner(cid)
        pacer = runner.pacer if runner else None
        if isinstance(pacer, ErlangPacer) and pacer.window.answered:
            return pacer
        return None

    pacer = await eventually(counted, what="the window counted")
    assert (pacer.window.answered, pacer.window.dropped) == expected
    # With 10 % or 30 % dropped over the window, the run starts with no drop budget.
    assert pacer.risk == 0.0
