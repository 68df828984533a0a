"""`ccd demo`: a whole call center in accelerated time, wired exactly as `ccd run` is.

The daemon is `ccd.service.Service`, the composition root of `ccd run`; only its settings
differ: the Asterisk protocol double is the node (far ends with a realistic mix of outcomes;
agent phones that answer), the engine's timings are scaled to the demo's speed, and the HTTP
API listens on a free port. Simulated agents are API clients, as people at their consoles
are: they log in with their tokens, follow their state on the agent WebSocket and set
dispositions with POST /api/agent/disposition. A live table follows the campaign; the report
at the end is plain SQL, and the database stays there to query.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as dtime

import aiohttp
import asyncpg
from pydantic import AnyHttpUrl
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ccd.config import AsteriskNode, HttpSettings, Settings
from ccd.dialer.daemon import EngineConfig
from ccd.domain.agents import AgentState
from ccd.domain.campaigns import CampaignMode, CampaignStatus
from ccd.log import get_logger
from ccd.ops.heap import freeze_startup_objects
from ccd.service import Service
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.sim.desk import Desk
from ccd.store import agents as agent_store
from ccd.store.campaigns import CampaignSpec, create_campaign, set_status
from ccd.store.db import create_pool

log = get_logger(__name__)

TRUNK = "demo-trunk"


@dataclass(frozen=True)
class DemoOptions:
    leads: int = 3000
    agents: int = 12
    speed: float = 150.0  # simulated seconds per real second
    max_seconds: float = 75.0  # real seconds of dialing; setup and report add a few
    seed: int = 7


# (weight, far end maker): answer ~30 %, then the usual failures of an outbound list.
def _far_end(rng: random.Random) -> FarEnd:
    roll = rng.random()
    if roll < 0.30:
        return FarEnd.answer(after=rng.uniform(3, 12), hangup_after=rng.uniform(40, 200))
    if roll < 0.45:
        return FarEnd.busy(after=rng.uniform(1, 4))
    if roll < 0.70:
        return FarEnd.no_answer()
    if roll < 0.82:
        return FarEnd.machine(after=rng.uniform(3, 10), hangup_after=30.0)
    if roll < 0.86:
        return FarEnd.fax(after=rng.uniform(1, 4), tone="CED")
    if roll < 0.93:
        return FarEnd.unallocated(after=0.5)
    if roll < 0.97:
        return FarEnd.congestion(after=0.5)
    return FarEnd.rejected(after=rng.uniform(2, 6))


async def _setup(
    pool: asyncpg.Pool, opts: DemoOptions, rng: random.Random
) -> tuple[int, str, list[str]]:
    """Trunk, route, campaign, leads and agents; returns the agents' API tokens."""
    name = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    async with pool.acquire() as conn:
        tid = await conn.fetchval(
            "INSERT INTO trunks (name, kind, dial_template, max_channels) VALUES ($1, 'sip',"
            " 'PJSIP/{number}@demo-trunk', 200) ON CONFLICT (name) DO UPDATE SET enabled = true"
            " RETURNING id",
            TRUNK,
        )
        await conn.execute(
            "INSERT INTO routes (prefix, trunk_id) VALUES ('+', $1) ON CONFLICT DO NOTHING", tid
        )
        spec = CampaignSpec(
            name=name,
            mode=CampaignMode.PREDICTIVE,
            caller_id="+74951230000",
            dial_timeout_s=20,
            max_attempts=3,
            amd=True,
            fax_detect=True,
            hours_start=dtime(0, 0),
            hours_end=dtime(23, 59, 59),
        )
        cid = await create_campaign(conn, spec)
        # A fresh number block per run, so far ends and the global blacklist stay apart.
        base = rng.randrange(1_000_000, 9_000_000) * 1000
        leads = [(cid, f"+7{base + i:010d}", f"Customer {i + 1}") for i in range(opts.leads)]
        await conn.copy_records_to_table(
            "leads", records=leads, columns=["campaign_id", "phone", "name"]
        )
        tokens = []
        for i in range(opts.agents):
            login = f"demo{i + 1:02d}"
            agent_id = await conn.fetchval("SELECT id FROM agents WHERE login = $1", login)
            if agent_id is None:
                _, token = await agent_store.add_agent(
                    conn, login, f"Demo agent {i + 1}", f"PJSIP/agent{900 + i + 1}"
                )
            else:
                token = await agent_store.set_token(conn, agent_id)
            tokens.append(token)
    return cid, name, tokens


_COUNTS = """
SELECT count(*) AS attempts,
       count(*) FILTER (WHERE answered_at IS NOT NULL AND outcome IN ('ANSWERED', 'DROPPED'))
           AS answered,
       count(*) FILTER (WHERE outcome = 'DROPPED') AS dropped,
       count(*) FILTER (WHERE ended_at IS NULL) AS live
FROM attempts WHERE campaign_id = $1
"""
_DISPOS = """
SELECT coalesce(disposition, '(owed)') AS d, count(*) AS n FROM attempts
WHERE campaign_id = $1 AND ended_at IS NOT NULL GROUP BY 1 ORDER BY 2 DESC
"""


async def _table(service: Service, cid: int, elapsed: float, speed: float) -> Table:
    c = await service.pool.fetchrow(_COUNTS, cid)
    assert c is not None  # an aggregate without GROUP BY: always one row
    dispos = await service.pool.fetch(_DISPOS, cid)
    states = [s.state for s in service.engine.agents.sessions()]
    busy = sum(1 for s in states if s in (AgentState.TALKING, AgentState.WRAP_UP))
    staffed = sum(1 for s in states if s is not AgentState.LOGGED_OUT)
    abandon = c["dropped"] / c["answered"] if c["answered"] else 0.0
    t = Table(title=f"ccd demo - {elapsed:5.1f} s real, {elapsed * speed / 60:5.1f} min simulated")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row("attempts", str(c["attempts"]))
    t.add_row("live calls", str(c["live"]))
    t.add_row("answered (person)", str(c["answered"]))
    t.add_row("dropped (abandoned)", str(c["dropped"]))
    t.add_row("abandon rate", f"{abandon:.1%}")
    t.add_row("agents talking+wrap / staffed", f"{busy} / {staffed}")
    t.add_row("agent occupancy now", f"{busy / staffed:.0%}" if staffed else "-")
    for r in dispos:
        t.add_row(f"  {r['d']}", str(r["n"]))
    return t


_REPORT = """
SELECT c.name,
       count(a.*) AS attempts,
       count(DISTINCT a.lead_id) AS leads_dialed,
       count(*) FILTER (WHERE a.bridged_at IS NOT NULL) AS talked,
       count(*) FILTER (WHERE a.outcome = 'DROPPED') AS dropped,
       round(100.0 * count(*) FILTER (WHERE a.outcome = 'DROPPED')
             / nullif(count(*) FILTER (WHERE a.outcome IN ('ANSWERED', 'DROPPED')
                                       AND a.answered_at IS NOT NULL), 0), 2) AS abandon_pct,
       round($2 * avg(extract(epoch FROM a.ended_at - a.bridged_at))
             FILTER (WHERE a.bridged_at IS NOT NULL)::numeric, 1) AS avg_talk_sim_s,
       count(*) FILTER (WHERE a.disposition IS NULL) AS without_disposition
FROM campaigns c LEFT JOIN attempts a ON a.campaign_id = c.id
WHERE c.id = $1 GROUP BY c.name
"""


async def run_demo(settings: Settings, db_url: str, opts: DemoOptions, console: Console) -> None:
    """The daemon of `ccd run` with the double as its node, agents at their consoles, a live
    table, then the report."""
    rng = random.Random(opts.seed)
    double = AsteriskDouble(time_scale=1.0 / opts.speed, trunk_caps={TRUNK: 200})
    await double.start()
    try:
        service = await Service.create(
            demo_settings(settings, double), db_url, engine_config(opts), flows=dict
        )
        try:
            cid, name, tokens = await _setup(service.pool, opts, rng)
            for r in await service.pool.fetch(
                "SELECT phone FROM leads WHERE campaign_id = $1", cid
            ):
                double.program(r["phone"], _far_end(rng))
            await service.start()
            # As `ccd run` does; here a 70 ms collector pause is 10 simulated seconds.
            freeze_startup_objects()
            await _run_campaign(service, cid, name, tokens, opts, console)
        finally:
            await service.stop()  # graceful: live calls end, owed dispositions are settled
        pool = await create_pool(db_url, min_size=1, max_size=2)
        try:
            await _report(pool, cid, console, db_url, opts.speed)
        finally:
            await pool.close()
    finally:
        await double.stop()


def demo_settings(settings: Settings, double: AsteriskDouble) -> Settings:
    node = AsteriskNode(
        name="pbx1", ari_url=AnyHttpUrl(double.ari_url), ari_password="ccdsecret",
        ami_host=double.ami_host, ami_port=double.ami_port, ami_secret="ccdsecret",
    )  # fmt: skip
    http = HttpSettings(host="127.0.0.1", port=0)  # a free port: never clash with a ccd run
    return settings.model_copy(update={"nodes": [node], "http": http})


def engine_config(opts: DemoOptions) -> EngineConfig:
    """`ccd run`'s engine with its clocks scaled to the demo's speed."""
    config = EngineConfig(wrapup_timeout_s=600, orphan_after_s=3600, drain_timeout_s=5.0)
    return config.accelerated(opts.speed)


async def _run_campaign(
    service: Service, cid: int, name: str, tokens: list[str], opts: DemoOptions,
    console: Console,
) -> None:  # fmt: skip
    base = f"http://127.0.0.1:{service.http_port}"
    async with aiohttp.ClientSession() as http:
        desks = [
            Desk(http, base, token, opts.speed, random.Random(i)) for i, token in enumerate(tokens)
        ]
        await asyncio.gather(*(d.login() for d in desks))
        working = [asyncio.create_task(d.work()) for d in desks]
        try:
            async with service.pool.acquire() as conn:
                await set_status(conn, name, CampaignStatus.RUNNING)
            started = time.monotonic()
            with Live(console=console, refresh_per_second=4) as live:
                while True:
                    elapsed = time.monotonic() - started
                    live.update(await _table(service, cid, elapsed, opts.speed))
                    if elapsed > opts.max_seconds or await _finished(service, cid):
                        break
                    await asyncio.sleep(0.25)
            async with service.pool.acquire() as conn:
                await set_status(conn, name, CampaignStatus.STOPPED)
        finally:
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)


async def _finished(service: Service, cid: int) -> bool:
    """Nothing live and nothing due any more (retries lie hours ahead)."""
    if service.engine.calls.live_for(cid):
        return False
    due: int = await service.pool.fetchval(
        "SELECT count(*) FROM leads WHERE campaign_id = $1 AND (status = 'in_progress'"
        " OR (status IN ('new', 'retry') AND next_attempt_at <= now()))",
        cid,
    )
    return due == 0


async def _report(
    pool: asyncpg.Pool, cid: int, console: Console, db_url: str, speed: float
) -> None:
    r = await pool.fetchrow(_REPORT, cid, speed)
    assert r is not None  # the demo's own campaign: one row
    # A live display that is not a terminal ends without a newline.
    console.print()
    console.print(
        Text.assemble(
            (f"campaign report: {r['name']}", "bold"), " (talk time in simulated seconds)"
        )
    )
    t = Table()
    t.add_column("metric")
    t.add_column("value", justify="right")
    for col, value in r.items():
        if col != "name":
            t.add_row(col, str(value))
    console.print(t)
    d = Table(title="dispositions")
    d.add_column("disposition")
    d.add_column("attempts", justify="right")
    d.add_column("source")
    for row in await pool.fetch(
        "SELECT disposition, disposition_source, count(*) AS n FROM attempts"
        " WHERE campaign_id = $1 GROUP BY 1, 2 ORDER BY 3 DESC",
        cid,
    ):
        d.add_row(str(row["disposition"]), str(row["n"]), str(row["disposition_source"]))
    console.print(d)
    console.print(f"The data stays in the database: psql '{db_url}'", highlight=False)
    console.print(
        f"  e.g. SELECT outcome, disposition, count(*) FROM attempts WHERE campaign_id = {cid}"
        " GROUP BY 1, 2;",
        highlight=False,
    )
