"""An agent's inbound call through the HTTP API and the live console, wired as `ccd run` wires
them: the real Engine with inbound attached, the console parts, the Asterisk double.

The agent sees the caller in /api/agent/me, their disposition lands on the inbound call's row
(never on an earlier outbound attempt), `ready` ends the wrap-up, the engine's wrap-up timeout
applies, the wallboard has the call as an "inbound" row, and a listen on it ends with the caller.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg
import pytest

from ccd.dialer.agents import AgentError
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition
from ccd.inbound.service import attach_to_engine
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import inbound as store
from ccd.store.agents import add_agent
from ccd.telephony.ari_pbx import AriPbx
from tests.dialer.conftest import eventually, node_for
from tests.dialer.helpers import add_leads
from tests.inbound.harness import DID, city_flow

if TYPE_CHECKING:
    from tests.inbound.desk import Desk

pytest_plugins = ["tests.dialer.conftest", "tests.inbound.desk"]


async def earlier_outbound_attempt(d: Desk) -> tuple[str, str]:
    """The agent's earlier outbound call, END automatically: (attempt id, its number)."""
    phone = "+74957654321"
    (lead_id,) = await add_leads(d.pool, d.campaign_id, [phone])
    attempt_id = str(uuid.uuid4())
    ended = datetime.now(UTC) - timedelta(minutes=5)
    await d.pool.execute(
        """
        INSERT INTO attempts (id, campaign_id, lead_id, phone, agent_id, state, created_at,
            answered_at, bridged_at, ended_at, outcome, disposition, disposition_source)
        VALUES ($1, $2, $3, $4, $5, 'ended', $6, $6, $6, $6, 'ANSWERED', 'END', 'auto')
        """,
        attempt_id, d.campaign_id, lead_id, phone, d.agent_id, ended,
    )  # fmt: skip
    return attempt_id, phone


async def test_the_agent_sees_the_caller_and_disposes_the_inbound_call_only(desk: Desk) -> None:
    d = desk
    attempt_id, attempt_phone = await earlier_outbound_attempt(d)
    status, body = await d.api("POST", "/api/agent/login", {})
    assert status == 200 and body["state"] == "READY", body
    call = await d.call_in()
    await d.state(AgentState.TALKING)

    status, me = await d.api("GET", "/api/agent/me")
    assert status == 200 and me["state"] == "TALKING"
    c = me["call"]
    assert c is not None, "no call shown during an inbound call"
    assert (c["direction"], c["call_id"], c["caller"], c["did"], c["queue"]) == (
        "inbound",
        call,
        d.caller,
        DID,
        "support",
    )
    assert c["campaign_id"] == d.campaign_id and c["ended"] is False
    assert (c["contact"]["lead_id"], c["contact"]["name"]) == (d.lead_id, "Ivan Petrov")
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 409 and "still on the call" in body["error"]

    await d.double.hangup_far_end(call)
    await d.state(AgentState.WRAP_UP)
    status, me = await d.api("GET", "/api/agent/me")
    assert me["call"]["call_id"] == call and me["call"]["ended"] is True
    # Outbound verdicts are refused for an inbound caller: no blacklist, nothing written.
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "BAD_NUMBER"})
    assert status == 400 and body["field"] == "disposition", body
    assert d.engine.agents.session(d.agent_id).state is AgentState.WRAP_UP  # type: ignore[union-attr]

    callback_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    status, body = await d.api("POST", "/api/agent/disposition", {
        "disposition": "CALLBACK", "callback_at": callback_at.isoformat(), "note": "wants a quote",
    })  # fmt: skip
    assert status == 200, body
    assert (body["direction"], body["call_id"], body["attempt_id"]) == ("inbound", call, None)
    row = await d.pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
    assert (row["disposition"], row["disposition_source"], row["note"]) == (
        "CALLBACK",
        "agent",
        "wants a quote",
    )
    assert row["callback_at"] == callback_at
    lead = await d.pool.fetchrow("SELECT * FROM leads WHERE id = $1", d.lead_id)
    assert (lead["status"], lead["next_attempt_at"]) == ("callback", callback_at)
    assert d.engine.agents.session(d.agent_id).state is AgentState.READY  # type: ignore[union-attr]
    status, me = await d.api("GET", "/api/agent/me")
    assert me["call"] is None

    # Neither a second disposition through the API nor the engine's own entry point reaches
    # the earlier outbound attempt: the agent's last call is the inbound one.
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "BAD_NUMBER"})
    assert status == 400 and body["field"] == "disposition"
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 409 and "already has an agent disposition" in body["error"]
    with pytest.raises(AgentError):
        await d.engine.calls.agent_disposition(d.agent_id, Disposition.BAD_NUMBER)
    attempt = await d.pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt_id)
    assert (attempt["disposition"], attempt["disposition_source"]) == ("END", "auto")
    assert await d.pool.fetchval("SELECT count(*) FROM blacklist") == 0, attempt_phone


async def test_ready_ends_the_inbound_wrapup(desk: Desk) -> None:
    d = desk
    await d.api("POST", "/api/agent/login", {})
    call = await d.call_in()
    await d.state(AgentState.TALKING)
    await d.double.hangup_far_end(call)
    await d.state(AgentState.WRAP_UP)
    status, body = await d.api("POST", "/api/agent/ready")
    assert status == 200 and body["state"] == "READY" and body["call"] is None, body
    row = await d.pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
    assert (row["disposition"], row["disposition_source"]) == ("END", "auto")
    # The agent may still say what the call was: theirs replaces the automatic END.
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "END",
                                                                   "note": "done"})  # fmt: skip
    assert status == 200 and body["call_id"] == call, body
    row = await d.pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
    assert (row["disposition"], row["disposition_source"], row["note"]) == ("END", "agent", "done")


async def test_the_wrapup_timeout_of_the_engine_applies_to_inbound(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, tmp_path: Path
) -> None:
    flow = city_flow(tmp_path)
    await store.add_route(pool, DID, flow.name)
    agent_id, _ = await add_agent(pool, "anna", "Anna", "PJSIP/agent101")
    pbx = AriPbx([node_for(double)], backoff_initial_s=0.05, backoff_max_s=0.2)
    config = EngineConfig(idle_wait_s=0.05, drain_timeout_s=0.5, wrapup_timeout_s=0.5)
    engine = Engine(pool, db_url, pbx, config=config)  # ccd run --wrapup-timeout 0.5
    inbound = attach_to_engine(engine, {flow.name: flow})
    await engine.start()
    try:
        await engine.agents.login(agent_id)
        call = await double.inbound_call(
            did=DID,
            caller="+74951112233",
            far_end=FarEnd.answer(dtmf="1", dtmf_at=10, hangup_after=50),
        )
        assert await asyncio.wait_for(inbound.outcome_of(call), 10) == "answered"
        session = engine.agents.session(agent_id)
        assert session is not None and session.state is AgentState.WRAP_UP
        ready = asyncio.Event()
        engine.agents.subscribe_ready(lambda s: ready.set())
        await asyncio.wait_for(ready.wait(), 5.0)  # not the fixed 120 s of before
        row = await pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
        assert (row["disposition"], row["disposition_source"]) == ("END", "auto")
    finally:
        await inbound.close()
        await engine.stop()


async def test_wallboard_rows_and_a_listen_that_ends_with_the_caller(desk: Desk) -> None:
    d = desk
    await d.api("POST", "/api/agent/login", {})
    async with d.http.post(d.base + "/api/login",
                           json={"login": "sofia", "password": d.password}) as r:  # fmt: skip
        sup = {"Authorization": f"Bearer {(await r.json())['token']}"}
    async with d.http.ws_connect(d.base + "/api/live", headers=sup) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        call = await d.call_in()
        started = await _next_of(ws, "call_started")
        row = started["call"]
        assert (row["call_id"], row["direction"], row["agent_id"], row["phone"]) == (
            call,
            "inbound",
            d.agent_id,
            d.caller,
        )
        assert (row["campaign_id"], row["lead_id"], row["lead_name"]) == (
            d.campaign_id,
            d.lead_id,
            "Ivan Petrov",
        )
        assert [c["call_id"] for c in d.parts.hub.snapshot()["calls"]] == [call]
        await d.state(AgentState.TALKING)

        async with d.http.post(d.base + "/api/spy", json={"agent_id": d.agent_id},
                               headers=sup) as r:  # fmt: skip
            assert r.status == 201, await r.text()
            spy = await r.json()
        assert spy["call_id"] == call
        sid, mark = spy["id"], len(d.double.requests)

        await d.double.hangup_far_end(call)
        assert (await _next_of(ws, "call_ended"))["call_id"] == call

    async def ended() -> bool:
        return bool(await d.pool.fetchval("SELECT ended_at FROM spy_sessions WHERE id = $1", sid))

    await eventually(ended, what="spy session ended")
    assert d.parts.spy.sessions() == []

    async def hung_up() -> set[str]:
        return {r.path for r in d.double.requests[mark:] if r.method == "DELETE"} >= {
            f"/ari/channels/spy-{sid}-snoop1",
            f"/ari/channels/spy-{sid}-sup",
        }

    await eventually(hung_up, what="snoop and supervisor leg hung up")
    assert d.parts.hub.snapshot()["calls"] == []
    # The agent's own phone leg stays up for the wrap-up.
    assert d.engine.agents.session(d.agent_id).state is AgentState.WRAP_UP  # type: ignore[union-attr]


async def _next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next live message of this type (agent and queue changes are skipped)."""
    while True:
        msg = await ws.receive_json(timeout=10)
        if msg["type"] == kind:
            return msg


async def test_a_call_left_in_wrapup_by_a_logout_is_not_the_next_shifts_call(desk: Desk) -> None:
    d = desk
    await d.api("POST", "/api/agent/login", {})
    first = await d.call_in()
    await d.state(AgentState.TALKING)
    await d.double.hangup_far_end(first)
    await d.state(AgentState.WRAP_UP)
    status, _ = await d.api("POST", "/api/agent/logout")  # its wrap-up timer still runs
    assert status == 200
    await d.api("POST", "/api/agent/login", {})
    second = await d.call_in()
    await d.state(AgentState.TALKING)
    status, me = await d.api("GET", "/api/agent/me")
    assert me["call"]["call_id"] == second, (first, second)
    await d.double.hangup_far_end(second)
    await d.state(AgentState.WRAP_UP)
    status, body = await d.api("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 200 and body["call_id"] == second, body
    assert (
        await d.pool.fetchval("SELECT disposition FROM inbound_calls WHERE id = $1", first) is None
    )


async def test_shutdown_settles_a_wrapup_left_by_a_logout_without_touching_the_next_one(
    desk: Desk,
) -> None:
    d = desk
    calls = []
    for _ in range(2):  # a wrap-up left by a logout, then the next shift's call in wrap-up
        await d.api("POST", "/api/agent/login", {})
        calls.append(await d.call_in())
        await d.state(AgentState.TALKING)
        await d.double.hangup_far_end(calls[-1])
        await d.state(AgentState.WRAP_UP)
        if len(calls) == 1:
            await d.api("POST", "/api/agent/logout")
    await d.inbound.calls.close()  # what ccd run's shutdown does
    for call in calls:
        row = await d.pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
        assert (row["disposition"], row["disposition_source"]) == ("END", "auto"), call
    assert d.engine.agents.session(d.agent_id).state is AgentState.READY  # type: ignore[union-attr]
