"""Blended agents with the real outbound engine: inbound callers take precedence over dialing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.agents import AgentState
from ccd.inbound.agents_port import reservation_id
from ccd.inbound.service import attach_to_engine
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import inbound as store
from ccd.store.agents import add_agent
from ccd.telephony.ari_pbx import AriPbx
from tests.dialer.conftest import node_for, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones
from tests.inbound.harness import DID, city_flow


def lead_dials(double: AsteriskDouble) -> int:
    return sum(
        1 for q in double.requests
        if q.method == "POST" and q.path.rstrip("/").endswith("/channels")
        and "@city-trunk" in (q.query.get("endpoint") or (q.body or {}).get("endpoint", ""))
    )  # fmt: skip


async def test_blended_agent_takes_the_inbound_caller_before_any_outbound_dial(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    double = AsteriskDouble(time_scale=0.01, trunk_caps={"city-trunk": 1000})
    await double.start()
    await add_trunk(pool)
    campaign_id = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    for phone in phones(20):
        double.program(phone, FarEnd.answer(after=1.0, hangup_after=30.0))
    await add_leads(pool, campaign_id, phones(20))
    agent_id, _ = await add_agent(pool, "blend1", "Blend", "PJSIP/agent201", (campaign_id,))
    flow = city_flow(tmp_path)
    await store.add_route(pool, DID, flow.name)
    pbx = AriPbx([node_for(double)], backoff_initial_s=0.05, backoff_max_s=0.2)
    engine = Engine(pool, db_url, pbx, config=EngineConfig(idle_wait_s=0.05, drain_timeout_s=0.5))
    inbound = attach_to_engine(engine, {flow.name: flow})
    await engine.start()
    try:
        await engine.agents.login(agent_id)
        await engine.agents.pause(agent_id, "briefing")
        await start_campaign(pool, "c1")
        call = await double.inbound_call(
            did=DID,
            caller="+74951112233",
            far_end=FarEnd.answer(dtmf="1", dtmf_at=10, hangup_after=300),
        )
        while not inbound.acd.waiting("support"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the campaign runner is live and finds no agent to dial for
        assert lead_dials(double) == 0
        await engine.agents.ready(agent_id)
        session = engine.agents.session(agent_id)
        assert session is not None and session.attempt_id == reservation_id(call)
        while session.state is not AgentState.TALKING:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.5)  # talking with the inbound caller: still nothing dialed
        assert lead_dials(double) == 0
        assert (await asyncio.wait_for(inbound.outcome_of(call), 10)) == "answered"
        await engine.agents.dispose(agent_id, reservation_id(call))
        while lead_dials(double) == 0:  # free again: now the engine dials for them  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    finally:
        await inbound.close()
        await engine.stop()
        await double.stop()
