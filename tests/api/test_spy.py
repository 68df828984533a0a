"""Listen, whisper and barge against the Asterisk double, asserted on its recorded requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from ccd.api.auth import AuthApi
from ccd.api.live import CallLive, LiveHub
from ccd.api.spy import SpyApi, SpyService
from ccd.dialer.daemon import Engine
from ccd.domain.agents import AgentState
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from ccd.store.users import add_user
from tests.api.conftest import PASSWORD, ClientFactory, login
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones

pytest_plugins = ["tests.dialer.conftest"]

SUP_PHONE = "7002"  # the supervisor's phone, a Local channel the double answers


@dataclass
class Setup:
    engine: Engine
    double: AsteriskDouble
    hub: LiveHub
    spy: SpyService
    client: TestClient
    agent_id: int
    attempt_id: str
    leg_id: str


@pytest.fixture
async def talking(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory,
    make_client: ClientFactory,
) -> AsyncIterator[Setup]:  # fmt: skip
    """Agent anna on a live MANUAL call; supervisor sofia with a phone; the spy API served."""
    engine = await make_engine()
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="MANUAL")
    number = phones(1)[0]
    double.program(number, FarEnd.answer(after=0.2, hangup_after=None))
    double.program(SUP_PHONE, FarEnd.answer(after=0.1, hangup_after=None))
    (lead,) = await add_leads(pool, cid, [number])
    agent_id, _ = await add_agent(pool, "anna", "Anna", "PJSIP/agent101")
    await add_user(pool, "anna", PASSWORD, "agent", agent_id=agent_id)
    await add_user(pool, "sofia", PASSWORD, "supervisor", endpoint=f"Local/{SUP_PHONE}@sim-pstn")
    await add_user(pool, "nophone", PASSWORD, "supervisor")
    await start_campaign(pool, "c1")
    await engine.agents.login(agent_id)

    async def runner() -> Any:
        return engine.supervisor.runner(cid)

    attempt_id = await (await eventually(runner, what="runner")).dial_for_agent(agent_id, lead)

    async def on_call() -> bool:
        s = engine.agents.session(agent_id)
        return s is not None and s.state is AgentState.TALKING

    await eventually(on_call, what="agent talking")
    hub = LiveHub()
    spy = SpyService(pool, engine.pbx, engine.agents, hub, answer_timeout_s=5.0)
    engine.router.add_handler(SpyService.owns, spy)
    client = await make_client(AuthApi(pool).add_routes, SpyApi(spy).add_routes)
    session = engine.agents.session(agent_id)
    assert session is not None and session.leg_id is not None
    yield Setup(engine, double, hub, spy, client, agent_id, attempt_id, session.leg_id)
    for s in spy.sessions():
        await spy.stop(s.id)
    if attempt_id in double.channels:  # so the engine's shutdown need not wait for the call
        await double.hangup_far_end(attempt_id)


def _params(r: Any) -> dict[str, Any]:
    return {**(r.query or {}), **(r.body if isinstance(r.body, dict) else {})}


def _new(double: AsteriskDouble, since: int, method: str, path_part: str) -> list[dict[str, Any]]:
    """Requests after index `since` with this method whose path contains path_part."""
    return [
        {"path": r.path, **_params(r)}
        for r in double.requests[since:]
        if r.method == method and path_part in r.path
    ]


async def test_listen_whisper_barge_and_back(pool: asyncpg.Pool, talking: Setup) -> None:
    t, client = talking, talking.client
    sup = await login(client, "sofia")
    mark = len(t.double.requests)
    resp = await client.post("/api/spy", json={"agent_id": t.agent_id, "mode": "listen"},
                             headers=sup)  # fmt: skip
    assert resp.status == 201, await resp.text()
    s = await resp.json()
    assert (s["state"], s["mode"], s["call_id"]) == ("active", "listen", t.attempt_id)
    sid = s["id"]
    sup_leg, private = f"spy-{sid}-sup", f"spy-{sid}"

    # The supervisor's phone is called, then a snoop on the AGENT's leg: hears both, says nothing.
    (orig,) = [
        r for r in _new(t.double, mark, "POST", "/ari/channels") if r.get("channelId") == sup_leg
    ]
    assert orig["endpoint"] == f"Local/{SUP_PHONE}@sim-pstn"
    (snoop,) = _new(t.double, mark, "POST", "/snoop")
    assert snoop["path"].startswith(f"/ari/channels/{t.leg_id}/snoop")
    assert (snoop["spy"], snoop["whisper"]) == ("both", "none")
    (add,) = _new(t.double, mark, "POST", f"/ari/bridges/{private}/addChannel")
    assert set(add["channel"].split(",")) == {f"spy-{sid}-snoop1", sup_leg}
    # The customer's bridge is untouched while listening.
    assert _new(t.double, mark, "POST", f"/ari/bridges/agent-{t.agent_id}/") == []

    # Whisper: the listen snoop is replaced by one that talks into the agent's leg only.
    mark = len(t.double.requests)
    resp = await client.post(f"/api/spy/{sid}/mode", json={"mode": "whisper"}, headers=sup)
    assert resp.status == 200 and (await resp.json())["mode"] == "whisper"
    assert [r["path"] for r in _new(t.double, mark, "DELETE", "/ari/channels/")] == [
        f"/ari/channels/spy-{sid}-snoop1"
    ]
    (snoop,) = _new(t.double, mark, "POST", "/snoop")
    assert snoop["path"].startswith(f"/ari/channels/{t.leg_id}/snoop")
    assert (snoop["spy"], snoop["whisper"]) == ("both", "out")
    (add,) = _new(t.double, mark, "POST", f"/ari/bridges/{private}/addChannel")
    assert add["channel"] == f"spy-{sid}-snoop2"

    # Barge: the supervisor's leg joins the agent's mixing bridge (three-way); no snoop.
    mark = len(t.double.requests)
    resp = await client.post(f"/api/spy/{sid}/mode", json={"mode": "barge"}, headers=sup)
    assert resp.status == 200
    (add,) = _new(t.double, mark, "POST", f"/ari/bridges/agent-{t.agent_id}/addChannel")
    assert add["channel"] == sup_leg
    assert _new(t.double, mark, "POST", "/snoop") == []
    bridge = t.double.pbx.bridge(f"agent-{t.agent_id}")
    assert {t.leg_id, t.attempt_id, sup_leg} <= {c.id for c in bridge.channels}

    # Back to listen: out of the agent's bridge, a fresh silent snoop.
    mark = len(t.double.requests)
    resp = await client.post(f"/api/spy/{sid}/mode", json={"mode": "listen"}, headers=sup)
    assert resp.status == 200
    (rm,) = _new(t.double, mark, "POST", f"/ari/bridges/agent-{t.agent_id}/removeChannel")
    assert rm["channel"] == sup_leg
    (snoop,) = _new(t.double, mark, "POST", "/snoop")
    assert (snoop["spy"], snoop["whisper"]) == ("both", "none")

    # Stop: the supervisor's leg and the snoop are hung up, the private bridge goes.
    mark = len(t.double.requests)
    resp = await client.delete(f"/api/spy/{sid}", headers=sup)
    assert resp.status == 200
    deleted = {r["path"] for r in _new(t.double, mark, "DELETE", "/ari/")}
    assert {f"/ari/channels/{sup_leg}", f"/ari/channels/spy-{sid}-snoop3",
            f"/ari/bridges/{private}"} <= deleted  # fmt: skip
    row = await pool.fetchrow("SELECT * FROM spy_sessions WHERE id = $1", sid)
    assert row["ended_at"] is not None and row["mode"] == "listen"
    assert [m["mode"] for m in row["modes"]] == ["listen", "whisper", "barge", "listen"]
    # The agent's call went on undisturbed.
    assert t.engine.agents.session(t.agent_id).state is AgentState.TALKING  # type: ignore[union-attr]


async def test_session_ends_when_the_supervisor_hangs_up(
    pool: asyncpg.Pool, talking: Setup
) -> None:
    t = talking
    resp = await t.client.post("/api/spy", json={"agent_id": t.agent_id, "mode": "whisper"},
                               headers=await login(t.client, "sofia"))  # fmt: skip
    sid = (await resp.json())["id"]
    await t.double.hangup_far_end(f"spy-{sid}-sup")

    async def ended() -> bool:
        return bool(await pool.fetchval("SELECT ended_at FROM spy_sessions WHERE id = $1", sid))

    await eventually(ended, what="session ended")
    assert t.spy.sessions() == []


async def test_session_ends_with_the_customer_call(pool: asyncpg.Pool, talking: Setup) -> None:
    t = talking
    # What the engine publishes when the customer is bridged to the agent, and when it ends.
    t.hub.call_started(CallLive(t.attempt_id, t.agent_id, None, None, "x", datetime.now(UTC)))
    resp = await t.client.post("/api/spy", json={"agent_id": t.agent_id},
                               headers=await login(t.client, "sofia"))  # fmt: skip
    sid = (await resp.json())["id"]
    t.hub.call_ended(t.attempt_id)

    async def ended() -> bool:
        return bool(await pool.fetchval("SELECT ended_at FROM spy_sessions WHERE id = $1", sid))

    await eventually(ended, what="session ended")

    async def phone_hung_up() -> bool:  # the hangup reaches the double after the row is written
        return f"spy-{sid}-sup" not in t.double.channels

    await eventually(phone_hung_up, what="the supervisor's phone hung up")


async def test_spy_rules(pool: asyncpg.Pool, talking: Setup) -> None:
    t, client = talking, talking.client
    body = {"agent_id": t.agent_id, "mode": "listen"}
    assert (await client.post("/api/spy", json=body)).status == 401
    resp = await client.post("/api/spy", json=body, headers=await login(client, "anna"))
    assert resp.status == 403  # an agent never listens to anyone
    resp = await client.post("/api/spy", json=body, headers=await login(client, "nophone"))
    assert resp.status == 409 and "endpoint" in (await resp.json())["error"]
    resp = await client.post("/api/spy", json={"agent_id": t.agent_id, "mode": "shout"},
                             headers=await login(client, "sofia"))  # fmt: skip
    assert resp.status == 400 and "mode" in (await resp.json())["error"]
    resp = await client.post(
        "/api/spy", json={"agent_id": 999}, headers=await login(client, "sofia")
    )
    assert resp.status == 409 and "not logged in" in (await resp.json())["error"]
    sup = await login(client, "sofia")
    sid = (await (await client.post("/api/spy", json=body, headers=sup)).json())["id"]
    resp = await client.post("/api/spy", json=body, headers=sup)
    assert resp.status == 409 and "already" in (await resp.json())["error"]
    other = await login(client, "nophone")
    assert (await client.delete(f"/api/spy/{sid}", headers=other)).status == 404


async def test_supervisor_phone_busy(pool: asyncpg.Pool, talking: Setup) -> None:
    t = talking
    t.double.program(SUP_PHONE, FarEnd.busy(after=0.1))
    resp = await t.client.post("/api/spy", json={"agent_id": t.agent_id},
                               headers=await login(t.client, "sofia"))  # fmt: skip
    assert resp.status == 504 and "did not answer" in (await resp.json())["error"]
    row = await pool.fetchrow("SELECT ended_at FROM spy_sessions")
    assert row["ended_at"] is not None and t.spy.sessions() == []
    assert not [r for r in t.double.requests if "/snoop" in r.path]
