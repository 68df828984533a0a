"""An observer of the engine (live console, metrics) that fails never stops a call."""

from __future__ import annotations

import asyncpg

from ccd.api.live import CallLive, LiveHub
from ccd.api.server import EngineFeed
from ccd.dialer.daemon import Engine
from ccd.dialer.notify import NullNotifier
from ccd.domain.agents import AgentState
from ccd.ops.metrics import Metrics
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones


class _Broken(NullNotifier):
    def call_answered(self, call: object) -> None:  # type: ignore[override]
        raise RuntimeError("display broke")

    def call_bridged(self, call: object) -> None:  # type: ignore[override]
        raise RuntimeError("display broke")


async def _one_answered_call(pool: asyncpg.Pool, double: AsteriskDouble) -> tuple[int, int]:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    (lead,) = await add_leads(pool, cid, [phone])
    double.program(phone, FarEnd.answer(after=0.5, hangup_after=3000.0))
    agent, _ = await add_agent(pool, "a0", "Agent 0", "PJSIP/agent101")
    return lead, agent


async def _talking(engine: Engine, agent: int) -> bool:
    s = engine.agents.session(agent)
    return s is not None and s.state is AgentState.TALKING


async def test_a_failing_observer_is_counted_and_the_call_is_bridged(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    lead, agent = await _one_answered_call(pool, double)
    engine = await make_engine()
    failures: list[str] = []
    engine.set_notifier(_Broken(), on_failure=failures.append)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    await eventually(
        lambda: _talking(engine, agent), what="agent talking despite a broken observer"
    )
    # The session turns TALKING before the bridge is written; the write follows.
    async def bridged() -> object:
        return await pool.fetchval("SELECT bridged_at FROM attempts WHERE lead_id = $1", lead)

    await eventually(bridged, what="the bridge written despite a broken observer")
    assert failures[:2] == ["call_answered", "call_bridged"]


async def test_the_console_feed_of_ccd_run_shows_the_answered_call(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    """EngineFeed as `ccd run` wires it: an answered call reaches the agent and the hub."""
    lead, agent = await _one_answered_call(pool, double)
    engine = await make_engine()
    hub = LiveHub()
    failures: list[str] = []
    engine.set_notifier(EngineFeed(pool, hub, Metrics()), on_failure=failures.append)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    await eventually(lambda: _talking(engine, agent), what="agent talking")

    async def shown() -> CallLive | None:
        return hub.call_of_agent(agent)

    call = await eventually(shown, what="the call's row on the wallboard")
    assert call.lead_id == lead and failures == []
