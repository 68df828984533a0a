"""Two Asterisk nodes: a bridge joins channels of one node only, so every call must land on
the node of the agent who takes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from ccd.api.live import LiveHub
from ccd.api.spy import SpyService
from ccd.config import AsteriskNode
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.agents import AgentState
from ccd.inbound.service import attach_to_engine
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import inbound as inbound_store
from ccd.store.agents import add_agent
from ccd.store.users import add_user
from ccd.telephony.ari_pbx import AriPbx
from tests.dialer.conftest import all_disposed, eventually, node_for, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones
from tests.inbound.harness import DID, city_flow


def _engine(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble
) -> Engine:
    node2 = AsteriskNode(name="pbx2", ari_url=second.ari_url, ari_password="ccdsecret")
    pbx = AriPbx([node_for(double), node2], backoff_initial_s=0.05, backoff_max_s=0.2)
    return Engine(pool, db_url, pbx, config=EngineConfig(
        idle_wait_s=0.05, drain_timeout_s=0.5, wrapup_timeout_s=0.05,
    ))  # fmt: skip


async def _agents_on_both_nodes(pool: asyncpg.Pool, engine: Engine, n: int) -> dict[int, str]:
    agents = [
        (await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent{101 + i}"))[0] for i in range(n)
    ]
    for a in agents:  # one at a time: the phone legs spread over both nodes, pbx1 first
        await engine.agents.login(a)
    return {a: engine.agents.session(a).node for a in agents}  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", ["PREDICTIVE", "POWER"])
async def test_every_answered_call_reaches_an_agent_on_its_own_node(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble, mode: str
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, mode=mode, pacer="ratio", dial_ratio=1)
    numbers = phones(40)
    for d in (double, second):
        for p in numbers:
            d.program(p, FarEnd.answer(after=0.5, hangup_after=20.0))
    await add_leads(pool, cid, numbers)
    engine = _engine(pool, db_url, double, second)
    await engine.start()
    try:
        node_of = await _agents_on_both_nodes(pool, engine, 4)
        assert sorted(node_of.values()) == ["pbx1", "pbx1", "pbx2", "pbx2"]
        rows = await pool.fetch("SELECT id, node FROM agents")
        assert {r["id"]: r["node"] for r in rows} == node_of  # for ops and reports
        await start_campaign(pool, "c1")
        await eventually(lambda: all_disposed(pool, cid, 40), within=30, what="40 attempts")
        rows = await pool.fetch("SELECT node, outcome, agent_id FROM attempts")
        assert [r for r in rows if r["outcome"] != "ANSWERED"] == []  # none DROPPED
        assert [r for r in rows if node_of.get(r["agent_id"]) != r["node"]] == []
        assert {r["node"] for r in rows} == {"pbx1", "pbx2"}
    finally:
        await engine.stop()
    # Logged out: no node any more.
    assert await pool.fetchval("SELECT count(*) FROM agents WHERE node IS NOT NULL") == 0


async def test_an_inbound_caller_on_the_second_node_gets_an_agent_of_that_node(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble,
    tmp_path: Path,
) -> None:  # fmt: skip
    flow = city_flow(tmp_path)
    await inbound_store.add_route(pool, DID, flow.name)
    engine = _engine(pool, db_url, double, second)
    inbound = attach_to_engine(engine, {flow.name: flow})
    await engine.start()
    try:
        node_of = await _agents_on_both_nodes(pool, engine, 2)
        first, other = node_of
        assert (node_of[first], node_of[other]) == ("pbx1", "pbx2")
        # The agent on pbx1 has been idle longest: by idle time alone it would get the caller.
        call = await second.inbound_call(
            did=DID, caller="+74951112233",
            far_end=FarEnd.answer(dtmf="1", dtmf_at=10, hangup_after=300),
        )  # fmt: skip
        assert await asyncio.wait_for(inbound.outcome_of(call), 15) == "answered"
        row = await pool.fetchrow("SELECT node, agent_id FROM inbound_calls WHERE id = $1", call)
        assert (row["node"], row["agent_id"]) == ("pbx2", other)
        tried_across = [q for q in double.requests if q.path.endswith("/addChannel")
                        and call in (q.query or {}).get("channel", "")]  # fmt: skip
        assert tried_across == []
    finally:
        await inbound.close()
        await engine.stop()


async def test_a_supervisor_listens_on_the_node_of_the_agents_call(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="MANUAL")
    (number,) = phones(1)
    for d in (double, second):
        d.program(number, FarEnd.answer(after=0.2, hangup_after=None))
        d.program("7002", FarEnd.answer(after=0.1, hangup_after=None))  # the supervisor's phone
    (lead,) = await add_leads(pool, cid, [number])
    user_id = (await add_user(pool, "sofia", "a long enough password", "supervisor")).id
    engine = _engine(pool, db_url, double, second)
    spy = SpyService(pool, engine.pbx, engine.agents, LiveHub(), answer_timeout_s=5.0)
    engine.router.add_handler(SpyService.owns, spy)
    await engine.start()
    try:
        node_of = await _agents_on_both_nodes(pool, engine, 2)
        agent = next(a for a, n in node_of.items() if n == "pbx2")
        await start_campaign(pool, "c1")

        async def runner() -> object:
            return engine.supervisor.runner(cid)

        await (await eventually(runner, what="runner")).dial_for_agent(agent, lead)  # type: ignore[attr-defined]

        async def talking() -> bool:
            return engine.agents.session(agent).state is AgentState.TALKING  # type: ignore[union-attr]

        await eventually(talking, what="the pbx2 agent talking")
        mark = len(double.requests)
        session = await spy.start(user_id, "Local/7002@sim-pstn", agent, "listen")
        assert session.state == "active"
        assert [r.path for r in double.requests[mark:]] == []  # nothing of it on pbx1
        sid = session.id
        leg = f"spy-{sid}-sup"
        sup_leg = [r for r in second.requests if (r.query or {}).get("channelId") == leg]
        spied = [r.path for r in second.requests if f"spy-{sid}" in r.path]
        assert sup_leg and f"/ari/bridges/spy-{sid}" in spied
        assert any("/snoop/" in p for p in spied) and f"/ari/bridges/spy-{sid}/addChannel" in spied
        await spy.stop(session.id)
    finally:
        await engine.stop()
