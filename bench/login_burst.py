"""/healthz latency while a burst of logins hashes passwords.

A real server on loopback serves POST /api/login (ccd.api.auth) and a /healthz like the
daemon's. A probe asks /healthz every 20 ms while N wrong-password logins (distinct logins,
so the throttle lets them all through) run at once; then the same N scrypt checks run on the
event loop itself, the way logins hashed before they moved to their thread pool, as the
baseline. Prints the probe latencies (median, max) of both.

Database: a temporary database on 127.0.0.1:5432 (dropped after).
Run: python bench/login_burst.py [--logins 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import ClientSession, web

from ccd.api.auth import AuthApi, auth_middleware, public
from ccd.api.login_limit import LoginLimiter
from ccd.log import configure_logging
from ccd.store import migrate
from ccd.store import users as user_store
from ccd.store.db import create_pool, with_database

LOCAL_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@public
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def probe_during(
    base: str, http: ClientSession, burst: Callable[[], Awaitable[object]]
) -> tuple[list[float], float]:
    """Probe latencies (s) while `burst` runs, and how long the burst took."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            async with http.get(f"{base}/healthz") as resp:
                await resp.read()
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.02)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    await burst()
    took = time.perf_counter() - started
    done.set()
    await prober
    return latencies, took


def report(what: str, latencies: list[float], took: float) -> None:
    print(
        f"{what}: burst {took:.2f} s, {len(latencies)} probes, /healthz median "
        f"{statistics.median(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )


async def run(url: str, n: int) -> None:
    pool = await create_pool(url, min_size=2, max_size=10)
    app = web.Application(middlewares=[auth_middleware(pool)])
    limiter = LoginLimiter(free_per_login=n, free_per_address=n * 2)
    AuthApi(pool, limiter=limiter).add_routes(app)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    for i in range(n):
        await user_store.add_user(pool, f"user{i}", "bench-password", "admin")
    try:
        async with ClientSession() as http:

            async def logins() -> None:
                async def one(i: int) -> None:
                    body = {"login": f"user{i}", "password": "wrong-password"}
                    async with http.post(f"{base}/api/login", json=body) as resp:
                        assert resp.status == 401, resp.status

                await asyncio.gather(*(one(i) for i in range(n)))

            async def on_loop() -> None:
                encoded = user_store.hash_password("bench-password")
                for _ in range(n):
                    user_store.verify_password("wrong-password", encoded)
                    await asyncio.sleep(0)

            idle, _ = await probe_during(base, http, lambda: asyncio.sleep(1.0))
            report("idle", idle, 1.0)
            report(f"{n} logins (hash threads)", *await probe_during(base, http, logins))
            report(f"{n} hashes on the loop (before)", *await probe_during(base, http, on_loop))
    finally:
        await runner.cleanup()
        await pool.close()


async def main(n: int) -> None:
    name = f"ccd_bench_login_{os.getpid()}"
    admin = await asyncpg.connect(LOCAL_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(LOCAL_ADMIN, name)
        await asyncio.to_thread(migrate.upgrade, url)
        await run(url, n)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=50)
    load1, _, _ = os.getloadavg()
    print(f"load average at start: {load1:.1f} on {os.cpu_count()} cores")
    configure_logging("error", "console")  # the burst's 401s are expected
    asyncio.run(main(parser.parse_args().logins))
