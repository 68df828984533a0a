"""The inbound desk fixture, `desk`: ccd.service.Service (what `ccd run` runs) in the test's
process on the Asterisk double, with the city flow on DID 5550013 routed to campaign "Support".
Agent "anna" serves Support; supervisor "sofia" has a phone the double answers; both sign in
with `desk.password`. The caller (`desk.caller`) is a lead of Support named Ivan Petrov.

Use: `pytest_plugins = ["tests.dialer.conftest", "tests.inbound.desk"]`, and import Desk only
under TYPE_CHECKING (a plugin module imported before it is registered is not assert-rewritten).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ccd.api.console import ConsoleParts
from ccd.config import HttpSettings, Settings
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.agents import AgentState
from ccd.inbound.service import InboundService
from ccd.service import Service
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import inbound as store
from ccd.store.agents import add_agent
from ccd.store.users import add_user
from tests.dialer.conftest import eventually, node_for
from tests.dialer.helpers import add_leads, make_campaign
from tests.inbound.harness import DID, city_flow

CALLER = "+74951112233"
SUP_PHONE = "7002"
PASSWORD = "correct horse"


@dataclass
class Desk:
    service: Service
    double: AsteriskDouble
    pool: asyncpg.Pool
    base: str
    http: aiohttp.ClientSession
    agent_id: int
    token: str
    campaign_id: int
    lead_id: int  # the caller's lead
    caller: str = CALLER
    password: str = PASSWORD

    @property
    def engine(self) -> Engine:
        return self.service.engine

    @property
    def inbound(self) -> InboundService:
        return self.service.inbound

    @property
    def parts(self) -> ConsoleParts:
        return self.service.parts

    async def api(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def call_in(self) -> str:
        """A caller pressing 1 (support queue) who stays on until hung up."""
        return await self.double.inbound_call(
            did=DID, caller=CALLER, far_end=FarEnd.answer(dtmf="1", dtmf_at=10, hangup_after=None)
        )

    async def state(self, want: AgentState) -> None:
        async def reached() -> bool:
            s = self.engine.agents.session(self.agent_id)
            return s is not None and s.state is want

        await eventually(reached, what=f"agent {want}")


@pytest.fixture
async def desk(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, tmp_path: Path
) -> AsyncIterator[Desk]:
    campaign_id = await make_campaign(pool, name="Support")
    (lead_id,) = await add_leads(pool, campaign_id, [CALLER])
    await pool.execute("UPDATE leads SET name = 'Ivan Petrov', status = 'done' WHERE id = $1",
                       lead_id)  # fmt: skip
    flow = city_flow(tmp_path)
    await store.add_route(pool, DID, flow.name, campaign_id)
    agent_id, token = await add_agent(pool, "anna", "Anna", "PJSIP/agent101", (campaign_id,))
    await add_user(pool, "anna", PASSWORD, "agent", name="Anna Ivanova", agent_id=agent_id)
    await add_user(pool, "sofia", PASSWORD, "supervisor", endpoint=f"Local/{SUP_PHONE}@sim-pstn")
    double.program(SUP_PHONE, FarEnd.answer(after=0.1, hangup_after=None))
    settings = Settings(
        database_url=db_url, data_dir=tmp_path, nodes=[node_for(double)],
        http=HttpSettings(host="127.0.0.1", port=0),
    )  # fmt: skip
    config = EngineConfig(idle_wait_s=0.05, drain_timeout_s=0.5, wrapup_timeout_s=30.0)
    service = await Service.create(settings, db_url, config, flows=lambda: {flow.name: flow})
    await service.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Desk(service, double, pool, f"http://127.0.0.1:{service.http_port}", http,
                       agent_id, token, campaign_id, lead_id)  # fmt: skip
    finally:
        for s in service.parts.spy.sessions():
            await service.parts.spy.stop(s.id)
        await service.stop()
