"""The agent HTTP API over real sockets: token auth, validation errors, the agent's day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from ccd.api.agent_api import AgentApi
from ccd.api.server import build_app, start_site
from ccd.dialer.daemon import Engine
from ccd.domain.agents import AgentState
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones

pytest_plugins = ["tests.dialer.conftest"]


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base, self.token = session, base, token

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def served(
    pool: asyncpg.Pool, make_engine: EngineFactory
) -> AsyncIterator[tuple[Engine, str, aiohttp.ClientSession]]:
    engine = await make_engine()
    runner: web.AppRunner = await start_site(
        build_app(pool, [AgentApi(engine).add_routes]), "127.0.0.1", 0
    )
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield engine, f"http://127.0.0.1:{port}", session
    await runner.cleanup()


async def test_tokens_and_validation(
    pool: asyncpg.Pool, served: tuple[Engine, str, aiohttp.ClientSession]
) -> None:
    engine, base, session = served
    agent_id, token = await add_agent(pool, "anna", "Anna", "PJSIP/agent101")
    stored = await pool.fetchval("SELECT token_hash FROM agents WHERE id = $1", agent_id)
    assert token not in stored and len(stored) == 64  # sha256 only
    status, body = await Client(session, base, "wrong").call("POST", "/api/agent/ready")
    assert status == 401 and "error" in body
    anna = Client(session, base, token)
    status, body = await anna.call("POST", "/api/agent/ready")
    assert status == 409 and "not logged in" in body["error"]
    status, body = await anna.call("POST", "/api/agent/pause", {"reason": ""})
    assert status == 400 and body["field"] == "reason"
    status, body = await anna.call("POST", "/api/agent/disposition", {"disposition": "MAYBE"})
    assert status == 400 and body["field"] == "disposition"
    status, body = await anna.call("POST", "/api/agent/disposition", {"disposition": "CALLBACK"})
    assert status == 400 and "callback_at" in body["error"]
    status, body = await anna.call("POST", "/api/agent/dial", {"campaign_id": 99, "lead_id": 1})
    assert status == 404 and body["field"] == "campaign_id"
    status, body = await anna.call("GET", "/api/agent/dial")
    assert status == 405 and body["error"] == "Method Not Allowed"
    status, body = await anna.call("GET", "/api/agent/nothing")
    assert status == 404 and "error" in body


async def test_an_agents_day_over_http(
    pool: asyncpg.Pool, double: AsteriskDouble, served: tuple[Engine, str, aiohttp.ClientSession]
) -> None:
    engine, base, session = served
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="MANUAL")
    numbers = phones(3)
    for p in numbers:
        double.program(p, FarEnd.answer(after=0.3, hangup_after=50.0))
    leads = await add_leads(pool, cid, numbers)
    await pool.execute(
        "UPDATE leads SET next_attempt_at = $2 WHERE id = $1",
        leads[2], datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    agent_id, token = await add_agent(pool, "anna", "Anna", "PJSIP/agent101")
    anna = Client(session, base, token)
    await start_campaign(pool, "c1")
    status, body = await anna.call("POST", "/api/agent/login", {})
    assert status == 200 and body["state"] == "READY"
    status, body = await anna.call("POST", "/api/agent/pause", {"reason": "coffee"})
    assert (body["state"], body["reason"]) == ("PAUSED", "coffee")
    status, body = await anna.call("GET", "/api/agent/worklist")
    assert status == 200
    due = {c["lead_id"]: c["due"] for c in body["contacts"]}
    assert due == {leads[0]: True, leads[1]: True, leads[2]: False}
    status, body = await anna.call("POST", "/api/agent/dial", {"campaign_id": cid,
                                                               "lead_id": leads[1]})  # fmt: skip
    assert status == 201

    async def talking() -> bool:
        s = engine.agents.session(agent_id)
        return s is not None and s.state is AgentState.TALKING

    await eventually(talking, what="talking")
    status, body = await anna.call("GET", "/api/agent/me")
    assert body["call"]["lead"]["phone"] == numbers[1]
    status, body = await anna.call("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 409 and "still on the call" in body["error"]

    async def wrapping() -> bool:
        s = engine.agents.session(agent_id)
        return s is not None and s.state is AgentState.WRAP_UP

    await eventually(wrapping, what="wrap-up")
    status, body = await anna.call("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 200, body
    row = await pool.fetchrow(
        "SELECT disposition, disposition_source FROM attempts WHERE lead_id = $1", leads[1]
    )
    assert (row["disposition"], row["disposition_source"]) == ("END", "agent")
    # The pause asked for before the call does not apply (dial from PAUSED returns to READY).
    status, body = await anna.call("POST", "/api/agent/logout")
    assert status == 200 and body["state"] == "LOGGED_OUT"


async def test_the_agent_hangs_up_the_customer_and_keeps_the_phone(
    pool: asyncpg.Pool, double: AsteriskDouble, served: tuple[Engine, str, aiohttp.ClientSession]
) -> None:
    engine, base, session = served
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="MANUAL")
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.3, hangup_after=1000.0))
    (lead,) = await add_leads(pool, cid, [phone])
    agent_id, token = await add_agent(pool, "anna", "Anna", "PJSIP/agent101")
    anna = Client(session, base, token)
    await start_campaign(pool, "c1")
    status, body = await anna.call("POST", "/api/agent/login", {})
    assert status == 200
    status, body = await anna.call("POST", "/api/agent/hangup")
    assert status == 409 and "not talking" in body["error"]
    status, body = await anna.call("POST", "/api/agent/dial", {"campaign_id": cid, "lead_id": lead})
    assert status == 201
    attempt_id = body["attempt_id"]

    async def state_is(state: AgentState) -> bool:
        s = engine.agents.session(agent_id)
        return s is not None and s.state is state

    await eventually(lambda: state_is(AgentState.TALKING), what="talking")
    leg = engine.agents.session(agent_id).leg_id  # type: ignore[union-attr]
    status, body = await anna.call("POST", "/api/agent/hangup")
    assert (status, body) == (200, {"call_id": attempt_id})
    await eventually(lambda: state_is(AgentState.WRAP_UP), what="wrap-up")
    assert attempt_id not in double.channels
    assert leg in double.channels
    assert [c.id for c in double.bridges[f"agent-{agent_id}"].channels] == [leg]
    row = await pool.fetchrow("SELECT outcome, bridged_at FROM attempts WHERE id = $1::uuid",
                              attempt_id)  # fmt: skip
    assert row["outcome"] == "ANSWERED" and row["bridged_at"] is not None
    status, body = await anna.call("POST", "/api/agent/disposition", {"disposition": "END"})
    assert status == 200, body
    assert engine.agents.session(agent_id).state is AgentState.READY  # type: ignore[union-attr]
