"""MO intake: a burst of customers' SMS from the SMSC double into PostgreSQL, with the inbox
API under load meanwhile.

The double runs in a process of its own and sends --messages one-part MO (each from its own
number, half of them a keyword) over 2 links as fast as it can; ccd takes them as `ccd run`
does (`SmsChannel` -> `SmsInbox`, batched writes, contacts created, keywords matched; each
deliver_sm answered once its row is committed) while 4 managers' clients poll GET
/api/inbox?status=new and open the newest message. Printed:

- messages/s stored (first deliver_sm to the last row committed), none lost, and to the last
  deliver_sm_resp the double got;
- baseline: one bare INSERT ... SELECT FROM unnest of the same rows into sms_inbound (what
  the database alone takes), and the ratio;
- the inbox API's latency during the burst: p50, p99, max.

    .venv/bin/python bench/sms_intake.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from _database import bench_database

from ccd.api.auth import AuthApi
from ccd.api.inbox_api import InboxApi
from ccd.api.live import LiveHub
from ccd.api.server import build_app, start_site
from ccd.log import configure_logging
from ccd.messaging.channel import StatusReport
from ccd.messaging.inbox import SmsInbox
from ccd.messaging.sms.channel import SmsChannel
from ccd.messaging.sms.settings import LinkSettings
from ccd.sim.smsc.process import SmscProcess
from ccd.store.db import create_pool
from ccd.store.sms_keywords import add_keyword
from ccd.store.users import add_user

ACCOUNTS = {"mo1": "pw1", "mo2": "pw2"}


async def _stored(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM sms_inbound"))


async def _no_reports(report: StatusReport) -> None:
    """The burst sends nothing: no delivery reports to follow."""


async def poll_api(base: str, token: str, stop: asyncio.Event, latencies: list[float]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with http.get(base + "/api/inbox?status=new&limit=50") as resp:
                rows = (await resp.json())["messages"]
            latencies.append(time.perf_counter() - t0)
            if rows:
                t0 = time.perf_counter()
                async with http.get(f"{base}/api/inbox/{rows[0]['id']}") as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - t0)


async def burst(
    url: str, smsc: SmscProcess, total: int, batch: int
) -> tuple[float, float, list[float], int]:
    pool = await create_pool(url, min_size=2, max_size=10)
    await add_keyword(pool, "VOTE", reply=None, assign="inbox", consent=None)
    await add_user(pool, "olga", "bench-pass", "manager")
    hub = LiveHub()
    links = [LinkSettings(name=f"l{i}", host="127.0.0.1", port=smsc.port, system_id=sid,
                          password=pw) for i, (sid, pw) in enumerate(ACCOUNTS.items())]  # fmt: skip
    sms = SmsChannel(links)
    inbox = SmsInbox(pool, sms.send_text, hub.push_to_inbox, batch=batch)
    sms.set_inbound(inbox.accept, hold=inbox.hold)
    await inbox.start()
    await sms.start(_no_reports)
    for link in sms.gateway.links.values():
        await link.wait_bound(10)
    runner = await start_site(
        build_app(pool, [AuthApi(pool).add_routes, InboxApi(pool, inbox, hub).add_routes]),
        "127.0.0.1", 0,
    )  # fmt: skip
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    login = {"login": "olga", "password": "bench-pass"}
    async with aiohttp.ClientSession() as http, http.post(base + "/api/login", json=login) as r:
        token = (await r.json())["token"]
    stop, latencies = asyncio.Event(), list[float]()
    pollers = [asyncio.create_task(poll_api(base, token, stop, latencies)) for _ in range(4)]
    await asyncio.sleep(0.5)  # the pollers' first answers are warm-up
    latencies.clear()
    half = total // 2
    started = time.perf_counter()
    await asyncio.gather(*(smsc.control("POST", "/mo", {
        "sender": str(79160000000 + n * half), "recipient": "7333", "count": half,
        "text": "VOTE 3" if n else "Когда привезёте заказ?", "system_id": sid,
    }) for n, sid in enumerate(ACCOUNTS)))  # fmt: skip
    while (stored := await _stored(pool)) < total:
        if time.perf_counter() - started > 300:
            raise SystemExit(f"only {stored} of {total} stored after 300 s")
        await asyncio.sleep(0.05)
    took = time.perf_counter() - started
    while (acked := (await smsc.control("GET", "/state"))["acked"]) < total:
        if time.perf_counter() - started > 300:
            raise SystemExit(f"only {acked} of {total} deliver_sm answered after 300 s")
        await asyncio.sleep(0.05)
    answered = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*pollers)
    await runner.cleanup()
    await sms.close()
    await inbox.close()
    contacts = int(await pool.fetchval("SELECT count(*) FROM contacts"))
    await pool.close()
    return total / took, total / answered, latencies, contacts


async def baseline(url: str, total: int) -> float:
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        rows = [(f"+7926{n:07d}", "VOTE 3", f"{n:064x}") for n in range(total)]
        started = time.perf_counter()
        await conn.execute(
            "INSERT INTO sms_inbound (link, sender, recipient, text, coding, received_at,"
            " dedup_key) SELECT 'l0', s, '7333', t, 'gsm7', $4, k"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS x(s, t, k)",
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], now,
        )  # fmt: skip
        return total / (time.perf_counter() - started)
    finally:
        await conn.close()


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def run(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        smsc = SmscProcess(Path(tmp), ACCOUNTS, receipts=False)
        smsc.start()
        try:
            rate, acked, latencies, contacts = await burst(url, smsc, args.messages, args.batch)
        finally:
            smsc.stop()
    base = await baseline(url, args.messages)
    print(f"MO intake: {args.messages:,} one-part SMS from the SMSC double (own process) over "
          f"2 links, 4 inbox API clients polling meanwhile")  # fmt: skip
    print(f"  stored by ccd (SmsInbox, batched, contacts + keywords): {rate:>9,.0f} messages/s "
          f"({contacts:,} contacts created, none lost)")  # fmt: skip
    print(f"  answered to the SMSC (deliver_sm_resp once stored):   {acked:>9,.0f} messages/s")
    print(f"  baseline, one bare INSERT ... unnest of the same rows:  {base:>9,.0f} rows/s "
          f"(ratio {rate / base:.2f})")  # fmt: skip
    print(f"  inbox API during the burst ({len(latencies):,} requests): p50 "
          f"{statistics.median(latencies) * 1000:.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=500, help="most messages stored in one go")
    configure_logging("warning")
    with bench_database("bench_sms_intake") as db_url:
        asyncio.run(run(db_url, p.parse_args()))
