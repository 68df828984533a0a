"""Outbound engine throughput against the Asterisk double in fast mode.

Prints:
  baseline  - calls/s the double + AriPbx complete with no engine at all (originate -> CallEnded)
  engine    - attempts/s end to end: claim -> attempt rows -> originate -> events -> disposition
              row, over a campaign of busy numbers (the fastest real outcome)
  ratio     - engine / baseline
  latency   - answer -> confirmed in the agent's bridge, p50 / p99, over answered calls with
              enough agents that nobody waits: answers spread over half a second, and a
              burst where every agent's call is answered in the same instant

The double runs in a process of its own, as Asterisk does beside ccd: in one process its
own work would be billed to the engine's latency and rate. Both processes freeze their startup
heap once set up: ccd because `ccd run` does (ccd/ops/heap.py), the double because Asterisk,
written in C, has no collector pauses to stand in for.

Usage: python bench/engine_throughput.py [--leads 5000] [--answered 1000] [--agents 100]
PostgreSQL: CCD_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres); a scratch
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import time
import uuid
from datetime import datetime

import asyncpg
from pydantic import AnyHttpUrl

from ccd.config import AsteriskNode
from ccd.dialer.agents import AgentSession
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.dialer.notify import NullNotifier
from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition
from ccd.log import configure_logging
from ccd.ops.heap import freeze_startup_objects
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store import migrate
from ccd.store.agents import add_agent
from ccd.store.db import create_pool, with_database
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.pbx import CallEnded, PbxEvent

ADMIN = os.environ.get("CCD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TRUNK = "bench-trunk"


def _node(ari_url: str) -> AsteriskNode:
    return AsteriskNode(name="pbx1", ari_url=AnyHttpUrl(ari_url), ari_password="ccdsecret")


def _answered_numbers(prefix: str, n: int, spread_sim_s: float) -> list[tuple[str, float]]:
    """Numbers a person answers after 0..spread_sim_s (simulated seconds)."""
    rng = random.Random(1)
    return [(f"{prefix}{i:07d}", rng.uniform(0, spread_sim_s)) for i in range(n)]


def _serve_double(conn: multiprocessing.connection.Connection,
                  answered: list[tuple[str, float]]) -> None:  # fmt: skip
    """Child process: the double, busy by default, the given numbers answering; runs until
    the parent sends anything."""

    async def serve() -> None:
        double = AsteriskDouble(time_scale=0.001, trunk_caps={TRUNK: 100_000})
        await double.start()
        double.default_far_end = FarEnd.busy(after=0.0)
        for number, after in answered:
            double.program(number, FarEnd.answer(after=after, hangup_after=300.0))
        freeze_startup_objects()
        conn.send(double.ari_url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await double.stop()

    configure_logging("warning", "console")
    asyncio.run(serve())


class _Desk(NullNotifier):
    """Agents who set END the moment they are in wrap-up (well inside the wrap-up timeout, as
    agents do: the automatic END is the exception, not the path measured)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._tasks: set[asyncio.Task[str]] = set()

    def agent_changed(self, session: AgentSession, at: datetime) -> None:
        if session.state is AgentState.WRAP_UP:
            task = asyncio.create_task(
                self._engine.calls.agent_disposition(session.agent_id, Disposition.END)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


class _Counter:
    def __init__(self, n: int) -> None:
        self.left = n
        self.done = asyncio.Event()

    async def on_pbx_event(self, event: PbxEvent) -> None:
        if isinstance(event, CallEnded):
            self.left -= 1
            if self.left == 0:
                self.done.set()

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        pass


async def baseline(ari_url: str, n: int, concurrency: int = 200) -> float:
    pbx = AriPbx([_node(ari_url)])
    counter = _Counter(n)
    pbx.set_handler(counter)
    await pbx.start()
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await pbx.originate(
                str(uuid.uuid4()), f"PJSIP/+7999{i:07d}@{TRUNK}", caller_id="", timeout_s=15
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    await counter.done.wait()
    rate = n / (time.perf_counter() - t0)
    await pbx.close()
    return rate


async def _campaign(
    pool: asyncpg.Pool, name: str, phones: list[str], ratio: float, dial_timeout_s: int = 15
) -> int:
    cid: int = await pool.fetchval(
        "INSERT INTO campaigns (name, mode, pacer, dial_ratio, max_ratio, dial_timeout_s,"
        " fax_detect, calling_hours_start, calling_hours_end) VALUES ($1, 'PREDICTIVE', 'ratio',"
        " $2, $2, $3, false, '00:00', '23:59:59.999') RETURNING id",
        name, ratio, dial_timeout_s,
    )  # fmt: skip
    await pool.copy_records_to_table(
        "leads", records=[(cid, p) for p in phones], columns=["campaign_id", "phone"]
    )
    await pool.execute("UPDATE leads SET next_attempt_at = now() - interval '1 day'")
    return cid


async def _run(pool: asyncpg.Pool, cid: int, name: str, n: int) -> float:
    t0 = time.perf_counter()
    await pool.execute("UPDATE campaigns SET status = 'running' WHERE id = $1;", cid)
    await pool.execute(
        "SELECT pg_notify('ccd_campaign', json_build_object('id', $1::int)::text)", cid
    )
    # The figure is about rows written, so the database is what is watched.
    done, last, stalled_since = 0, -1, time.perf_counter()
    while done < n:
        await asyncio.sleep(0.05)
        done = await pool.fetchval(
            "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND disposition IS NOT NULL", cid
        )
        if done != last:
            last, stalled_since = done, time.perf_counter()
        elif time.perf_counter() - stalled_since > 20:
            rows = await pool.fetch(
                "SELECT state, outcome, count(*) FROM attempts WHERE campaign_id = $1"
                " AND disposition IS NULL GROUP BY 1, 2",
                cid,
            )
            raise RuntimeError(f"{name}: stalled at {done}/{n}: {[tuple(r) for r in rows]}")
    elapsed = time.perf_counter() - t0
    await pool.execute("UPDATE campaigns SET status = 'stopped' WHERE id = $1", cid)
    await pool.execute(
        "SELECT pg_notify('ccd_campaign', json_build_object('id', $1::int)::text)", cid
    )
    return n / elapsed


async def _answered_phase(
    pool: asyncpg.Pool, engine: Engine, name: str, numbers: list[str]
) -> tuple[float, list[float]]:
    """Answered calls, agents set END at once. Returns (attempts/s, sorted answer -> bridge
    latencies in seconds)."""
    engine.calls.bridge_latencies.clear()
    # 600 s of ring time: 0.6 s at this time scale, longer than any answer delay.
    cid = await _campaign(pool, name, numbers, ratio=1.0, dial_timeout_s=600)
    rate = await _run(pool, cid, name, len(numbers))
    return rate, sorted(engine.calls.bridge_latencies)


async def main(args: argparse.Namespace) -> None:
    configure_logging("warning", "console")
    dbname = f"ccd_bench_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{dbname}"')
    url = with_database(ADMIN, dbname)
    spread_numbers = _answered_numbers("+7496", args.answered, 500.0)
    burst_numbers = _answered_numbers("+7497", args.answered, 0.0)
    parent, child = multiprocessing.get_context("spawn").Pipe()
    double = multiprocessing.get_context("spawn").Process(
        target=_serve_double, args=(child, spread_numbers + burst_numbers), daemon=True
    )
    double.start()
    ari_url: str = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        pool = await create_pool(url, min_size=4, max_size=20)
        tid = await pool.fetchval(
            "INSERT INTO trunks (name, kind, dial_template, max_channels) VALUES ($1, 'sip',"
            " 'PJSIP/{number}@bench-trunk', 100000) RETURNING id",
            TRUNK,
        )
        await pool.execute("INSERT INTO routes (prefix, trunk_id) VALUES ('+', $1)", tid)
        base = await baseline(ari_url, args.leads)

        engine = Engine(
            pool, url, AriPbx([_node(ari_url)]),
            config=EngineConfig(batch_max=args.batch, idle_wait_s=0.01, wrapup_timeout_s=30.0),
        )  # fmt: skip
        await engine.start()
        agent_ids = [
            (await add_agent(pool, f"b{i}", f"B{i}", f"PJSIP/agent{1000 + i}"))[0]
            for i in range(args.agents)
        ]
        await asyncio.gather(*(engine.agents.login(a) for a in agent_ids))
        freeze_startup_objects()  # as `ccd run` does once started

        busy = [f"+7495{i:07d}" for i in range(args.leads)]
        cid = await _campaign(pool, "bench-busy", busy, ratio=args.batch / args.agents)
        rate = await _run(pool, cid, "bench-busy", args.leads)

        engine.set_notifier(_Desk(engine))
        spread = await _answered_phase(
            pool, engine, "bench-spread", [n for n, _ in spread_numbers]
        )
        burst = await _answered_phase(pool, engine, "bench-burst", [n for n, _ in burst_numbers])
        await engine.stop()
        await pool.close()

        print(f"baseline (AriPbx against the double, no engine): {base:8.1f} calls/s")
        print(f"engine, busy numbers, {args.leads} leads:   {rate:8.1f} attempts/s"
              f"  (ratio to baseline {rate / base:.2f}; target >= 500)")  # fmt: skip
        for label, (arate, lat) in (
            ("answers spread over 0.5 s", spread),
            ("all agents' calls answered at once", burst),
        ):
            p50 = statistics.median(lat) * 1000 if lat else float("nan")
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan")
            print(f"answered -> agent -> END, {label}: {arate:.1f} attempts/s;"
                  f" answer -> agent bridge over {len(lat)} calls: p50 {p50:.1f} ms,"
                  f" p99 {p99:.1f} ms (target p99 <= 50 ms)")  # fmt: skip
    finally:
        parent.send("stop")
        double.join(10)
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--leads", type=int, default=5000)
    p.add_argument("--answered", type=int, default=1000)
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--batch", type=int, default=200)
    asyncio.run(main(p.parse_args()))
