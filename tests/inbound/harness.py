"""An inbound rig on the protocol double: AriPbx, the real AgentService, InboundService."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from ccd.config import AsteriskNode
from ccd.dialer.agents import AgentService
from ccd.dialer.clock import Clock
from ccd.inbound.flow import Flow, load_flow
from ccd.inbound.runner import RunnerConfig
from ccd.inbound.service import InboundService
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import agents as agent_store
from ccd.store import inbound as store
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.pbx import PbxEvent

TEST_FLOW = """
start: hours
nodes:
  hours:
    kind: hours
    time_zone: Europe/Moscow
    weekly: {mon-sun: ["00:00-24:00"]}
    holidays: [2026-12-31]
    open: menu
    closed: closed
  menu:
    kind: menu
    prompt: sound:ccd/main-menu
    options: {"1": support, "2": account, "3": callback, "4": vip, "0": voicemail}
    timeout_s: 0.6
    max_timeouts: 1
    max_invalid: 2
    fallback: goodbye
  account:
    kind: collect
    prompt: sound:ccd/enter-account
    into: account
    min_digits: 4
    max_digits: 8
    first_digit_timeout_s: 2
    inter_digit_timeout_s: 1
    pattern: "^[0-9]+$"
    next: readback
    fallback: goodbye
  readback: {kind: play, prompt: "digits:${account}", interruptible: false, next: goodbye}
  support:
    kind: queue
    queue: support
    max_wait_s: MAXWAIT
    announce_every_s: 0.4
    overflow: overflowed
  vip: {kind: queue, queue: support, priority: 5, max_wait_s: MAXWAIT, overflow: overflowed}
  voicemail: {kind: voicemail, prompt: sound:beep, max_s: 3}
  overflowed: {kind: play, prompt: sound:ccd/all-busy, next: goodbye}
  callback: {kind: callback, campaign: callbacks, prompt: sound:ccd/callback-booked, next: goodbye}
  closed: {kind: hangup, prompt: sound:ccd/closed}
  goodbye: {kind: hangup, prompt: sound:goodbye}
"""
DID = "5550013"


def city_flow(tmp_path: Path, max_wait_s: float = 8.0) -> Flow:
    path = tmp_path / "city.yaml"
    path.write_text(TEST_FLOW.replace("MAXWAIT", str(max_wait_s)))
    return load_flow(path)


class Router:
    """The daemon's one PbxHandler, reduced to what inbound needs (agent legs vs the rest)."""

    def __init__(self, agents: AgentService, inbound: InboundService) -> None:
        self.agents = agents
        self.inbound = inbound
        self.extra: list[Any] = []  # test observers of every event

    async def on_pbx_event(self, event: PbxEvent) -> None:
        for observer in self.extra:
            observer(event)
        if self.agents.owns(event.call_id):
            await self.agents.on_event(event)
        elif self.inbound.owns(event.call_id):
            await self.inbound.on_pbx_event(event)

    async def on_pbx_reconnected(self, node: str, live: frozenset[str]) -> None:
        await self.agents.on_reconnected(node, live)
        await self.inbound.on_pbx_reconnected(node, live)


@dataclass
class Rig:
    double: AsteriskDouble
    pbx: AriPbx
    agents: AgentService
    inbound: InboundService
    router: Router
    pool: asyncpg.Pool

    async def agent(self, login: str, *, campaign_ids: tuple[int, ...] = ()) -> int:
        agent_id, _ = await agent_store.add_agent(
            self.pool, login, login, f"PJSIP/{login}", campaign_ids
        )
        await self.agents.login(agent_id)
        return agent_id

    async def call(self, caller: str = "+74951112233", **far: Any) -> str:
        ch = await self.double.inbound_call(did=DID, caller=caller, far_end=FarEnd.answer(**far))
        return ch if isinstance(ch, str) else ch.id

    async def ended(self, call_id: str, within: float = 15.0) -> asyncpg.Record:
        """The call's inbound_calls row once its runner has finished."""
        await asyncio.wait_for(self.inbound.outcome_of(call_id), within)
        return await self.pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call_id)

    async def steps(self, call_id: str) -> list[tuple[str, str, str | None, str | None]]:
        rows = await self.pool.fetch(
            "SELECT node, kind, input, result FROM ivr_steps WHERE call_id = $1 ORDER BY id",
            call_id,
        )
        return [(r["node"], r["kind"], r["input"], r["result"]) for r in rows]


@asynccontextmanager
async def rig(
    pool: asyncpg.Pool,
    flows: Mapping[str, Flow],
    *,
    clock: Clock | None = None,
    time_scale: float = 1.0,
    wrapup_timeout_s: float = 120.0,
) -> AsyncIterator[Rig]:
    double = AsteriskDouble(time_scale=time_scale)
    await double.start()
    node = AsteriskNode(name="pbx1", ari_url=double.ari_url, ari_password="ccdsecret",
                        ami_port=double.ami_port, ami_secret="ccdsecret")  # fmt: skip
    pbx = AriPbx([node], backoff_initial_s=0.05)
    agents = AgentService(pool, pbx, login_timeout_s=5.0)
    inbound = InboundService(pbx, pool, agents, flows, clock=clock,
                             config=RunnerConfig(agent_connect_timeout_s=2.0,
                                                 wrapup_timeout_s=wrapup_timeout_s))  # fmt: skip
    router = Router(agents, inbound)
    pbx.set_handler(router)
    for flow in flows.values():
        await store.add_route(pool, DID, flow.name)
    await pbx.start()
    try:
        yield Rig(double, pbx, agents, inbound, router, pool)
    finally:
        await inbound.close()
        await agents.logout_all("test over")
        await pbx.close()
        await double.stop()
