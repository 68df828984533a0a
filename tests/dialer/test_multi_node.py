"""Two Asterisk nodes: a bridge joins channels of one node only, so every call must land on
the node of the agent who takes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ccd.config import AsteriskNode
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from ccd.telephony.ari_pbx import AriPbx
from tests.dialer.conftest import TIME_SCALE, all_disposed, eventually, node_for, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones


@pytest.fixture
async def second() -> AsyncIterator[AsteriskDouble]:
    d = AsteriskDouble(time_scale=TIME_SCALE, trunk_caps={"city-trunk": 10_000})
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def _engine(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble
) -> Engine:
    node2 = AsteriskNode(name="pbx2", ari_url=second.ari_url, ari_password="ccdsecret")
    pbx = AriPbx([node_for(double), node2], backoff_initial_s=0.05, backoff_max_s=0.2)
    engine = Engine(pool, db_url, pbx, config=EngineConfig(
        idle_wait_s=0.05, drain_timeout_s=0.5, wrapup_timeout_s=0.05,
    ))  # fmt: skip
    await engine.start()
    return engine


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
    engine = await _engine(pool, db_url, double, second)
    try:
        agents = [
            (await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent{101 + i}"))[0]
            for i in range(4)
        ]
        for a in agents:  # one at a time: the phone legs spread over both nodes
            await engine.agents.login(a)
        node_of = {a: engine.agents.session(a).node for a in agents}  # type: ignore[union-attr]
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
