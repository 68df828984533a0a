"""Inbound load: 300 callers in one minute (accelerated) into one flow and queue, 50 agents.

Everything real but Asterisk: AriPbx over loopback to the protocol double, the AgentService
with 50 nailed-up agent legs, InboundService, PostgreSQL. Callers press 1 for the queue and
hang up when their patience runs out (20-120 s after entering) unless an agent ended the
talk first (exponential talk, mean 6 s by default; 2 s wrap-up: about 80 % occupancy).
Checks that no caller is lost or stuck (every call has exactly one outcome, nobody left in
the queue, no agent left busy) and prints ASA, abandon %, and the CPU per call of the whole
process (double + Pbx client + inbound) against a baseline measured in the same run: the
same callers into a no-op app that answers and hangs up. Their difference is the inbound
side's own CPU per call.

Run: python bench/inbound_load.py [--callers 300] [--agents 50] [--scale 0.1] [--talk 6]
(--talk 12 overloads the agents: abandons and overflows appear.)
Needs PostgreSQL (CCD_TEST_PG, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import AnyHttpUrl

from ccd.config import AsteriskNode
from ccd.dialer.agents import AgentService
from ccd.inbound.agents_port import reservation_id
from ccd.inbound.flow import load_flow
from ccd.inbound.service import InboundService
from ccd.log import configure_logging
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import agents as agent_store
from ccd.store import inbound as store
from ccd.store import migrate
from ccd.store.db import create_pool, with_database
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.pbx import CallBridged, CallEnded, CallEntered, PbxEvent

DID = "88005550100"
FLOW = """
start: menu
nodes:
  menu:
    kind: menu
    prompt: sound:ccd/tollfree-menu
    options: {{"1": sales}}
    timeout_s: 2
    fallback: bye
  sales:
    kind: queue
    queue: sales
    max_wait_s: {max_wait}
    announce_every_s: {announce}
    overflow: bye
  bye: {{kind: hangup, prompt: sound:goodbye}}
"""
ADMIN_URL = os.environ.get("CCD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


WRAP_S = 2.0  # simulated; with 6 s talk: 5 calls/s x 8 s = 40 Erlangs on 50 agents


class Router:
    """Routes events like the daemon's router, and plays the agents: each ends the talk
    after an exponential talk time and disposes after the wrap-up."""

    def __init__(
        self, pbx: AriPbx, agents: AgentService, inbound: InboundService, scale: float,
        talk_mean_s: float,
    ) -> None:  # fmt: skip
        self.pbx = pbx
        self.agents = agents
        self.inbound = inbound
        self.scale = scale
        self.talk_mean_s = talk_mean_s
        self.rng = random.Random(11)
        self.tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def on_pbx_event(self, event: PbxEvent) -> None:
        if self.agents.owns(event.call_id):
            await self.agents.on_event(event)
            return
        if not self.inbound.owns(event.call_id):
            return
        await self.inbound.on_pbx_event(event)
        if isinstance(event, CallBridged) and event.bridge_id.startswith("agent-"):
            self._spawn(self._talk(event.call_id))
        elif isinstance(event, CallEnded):
            self._spawn(self._dispose(event.call_id))

    async def _talk(self, call_id: str) -> None:
        await asyncio.sleep(self.rng.expovariate(1 / self.talk_mean_s) * self.scale)
        await self.pbx.hangup(call_id)

    async def _dispose(self, call_id: str) -> None:
        rid = reservation_id(call_id)
        await self.inbound.outcome_of(call_id)
        for s in self.agents.sessions():
            if s.attempt_id == rid:
                await asyncio.sleep(WRAP_S * self.scale)
                await self.agents.dispose(s.agent_id, rid)

    async def on_pbx_reconnected(self, node: str, live: frozenset[str]) -> None:
        await self.agents.on_reconnected(node, live)


class NoOpApp:
    """The baseline: answer and hang up every inbound call, nothing else."""

    def __init__(self) -> None:
        self.pbx: AriPbx | None = None
        self.ended: set[str] = set()
        self.all_ended = asyncio.Event()
        self.expected = 0

    async def on_pbx_event(self, event: PbxEvent) -> None:
        assert self.pbx is not None
        if isinstance(event, CallEntered):
            await self.pbx.answer(event.call_id)
            await self.pbx.hangup(event.call_id)
        elif isinstance(event, CallEnded):
            self.ended.add(event.call_id)
            if len(self.ended) >= self.expected:
                self.all_ended.set()

    async def on_pbx_reconnected(self, node: str, live: frozenset[str]) -> None:
        pass


def _node(double: AsteriskDouble) -> AsteriskNode:
    return AsteriskNode(name="pbx1", ari_url=AnyHttpUrl(double.ari_url), ari_password="ccdsecret",
                        ami_port=double.ami_port, ami_secret="ccdsecret")  # fmt: skip


async def _arrivals(double: AsteriskDouble, n: int, minute_s: float, scale: float,
                    rng: random.Random) -> list[str]:  # fmt: skip
    """n Poisson arrivals spread over one (accelerated) minute."""
    gaps = [rng.expovariate(n / minute_s) for _ in range(n)]
    k = minute_s / sum(gaps)
    ids = []
    for i, gap in enumerate(gaps):
        await asyncio.sleep(gap * k)
        patience = rng.uniform(20.0, 120.0)  # simulated seconds from entering to hanging up
        far = FarEnd.answer(dtmf="1", dtmf_at=0.5, hangup_after=patience)
        ch = await double.inbound_call(did=DID, caller=f"+7495{1000000 + i}", far_end=far)
        ids.append(ch if isinstance(ch, str) else ch.id)
    return ids


async def baseline(n: int, scale: float) -> float:
    double = AsteriskDouble(time_scale=scale)
    await double.start()
    app = NoOpApp()
    app.expected = n
    pbx = AriPbx([_node(double)])
    app.pbx = pbx
    pbx.set_handler(app)
    await pbx.start()
    try:
        cpu0 = time.process_time()
        await _arrivals(double, n, 60.0 * scale, scale, random.Random(7))
        await asyncio.wait_for(app.all_ended.wait(), 60)
        return (time.process_time() - cpu0) / n
    finally:
        await pbx.close()
        await double.stop()


async def inbound(
    pool: asyncpg.Pool, n: int, n_agents: int, scale: float, talk_mean_s: float
) -> dict[str, Any]:
    double = AsteriskDouble(time_scale=scale)
    await double.start()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tollfree.yaml"
        path.write_text(FLOW.format(max_wait=60.0 * scale, announce=20.0 * scale))
        flow = load_flow(path)
    pbx = AriPbx([_node(double)])
    agents = AgentService(pool, pbx, login_timeout_s=10.0)
    service = InboundService(pbx, pool, agents, {flow.name: flow})
    router = Router(pbx, agents, service, scale, talk_mean_s)
    pbx.set_handler(router)
    await store.add_route(pool, DID, flow.name)
    await pbx.start()
    try:
        ids = []
        for i in range(n_agents):
            agent_id, _ = await agent_store.add_agent(pool, f"a{i}", f"a{i}", f"PJSIP/agent{i:03d}")
            ids.append(agent_id)
        await asyncio.gather(*(agents.login(a) for a in ids))
        cpu0 = time.process_time()
        wall0 = time.monotonic()
        calls = await _arrivals(double, n, 60.0 * scale, scale, random.Random(7))
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(service.outcome_of(c)) for c in calls], timeout=120
        )
        for fut in pending:
            fut.cancel()
        outcomes = [f.result() for f in done]
        cpu = time.process_time() - cpu0
        wall = time.monotonic() - wall0
        await asyncio.gather(*list(router.tasks))
        rows = await pool.fetch("SELECT * FROM inbound_calls WHERE id = ANY($1)", calls)
        stuck_agents = [s.agent_id for s in agents.sessions()
                        if s.state.value not in ("READY",)]  # fmt: skip
        return {
            "calls": calls, "outcomes": outcomes, "rows": rows, "cpu_per_call": cpu / n,
            "wall": wall, "waiting": len(service.acd.waiting()), "stuck_agents": stuck_agents,
            "live": service.live_calls(),
        }  # fmt: skip
    finally:
        await service.close()
        await agents.logout_all("bench over")
        await pbx.close()
        await double.stop()


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--callers", type=int, default=300)
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--scale", type=float, default=0.1, help="real seconds per simulated second")
    ap.add_argument("--talk", type=float, default=6.0, help="mean talk time, simulated seconds")
    args = ap.parse_args()
    configure_logging("warning", "console")

    name = f"ccd_bench_inbound_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(ADMIN_URL, name)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        pool = await create_pool(url, min_size=2, max_size=20)
        try:
            base = await baseline(args.callers, args.scale)
            res = await inbound(pool, args.callers, args.agents, args.scale, args.talk)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    rows = res["rows"]
    by_outcome: dict[str, int] = {}
    for r in rows:
        by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + 1
    answered = [r for r in rows if r["outcome"] == "answered"]
    queued = [r for r in rows if r["queued_at"] is not None]
    abandoned = [r for r in rows if r["outcome"] == "abandoned_queue"]
    waits = [(r["answered_at"] - r["queued_at"]).total_seconds() / args.scale for r in answered]
    asa = statistics.fmean(waits) if waits else float("nan")
    abandon_pct = 100.0 * len(abandoned) / len(queued) if queued else 0.0
    lost = args.callers - len(rows)
    no_outcome = sum(1 for r in rows if r["outcome"] is None)

    speed = 1 / args.scale
    print(f"inbound load: {args.callers} callers over 60 s simulated (x{speed:.0f} speed, "
          f"{res['wall']:.1f} s wall), {args.agents} agents, one flow and queue")  # fmt: skip
    print(f"  outcomes: {dict(sorted(by_outcome.items()))}")
    print(f"  ASA {asa:.1f} s (simulated), abandon {abandon_pct:.1f} % of queued callers")
    print(
        f"  lost {lost}, without outcome {no_outcome}, still queued {res['waiting']}, "
        f"runners alive {len(res['live'])}, agents not READY {len(res['stuck_agents'])}"
    )
    cpu = res["cpu_per_call"]
    print(f"  CPU per call: with inbound {cpu * 1000:.2f} ms, baseline (no-op app) "
          f"{base * 1000:.2f} ms, ratio {cpu / base:.2f}; inbound's own share "
          f"{(cpu - base) * 1000:.2f} ms")  # fmt: skip
    ok = lost == 0 and no_outcome == 0 and res["waiting"] == 0 and not res["live"] \
        and not res["stuck_agents"]  # fmt: skip
    print("  result:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
