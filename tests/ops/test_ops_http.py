"""/healthz, /readyz and /metrics on a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from ccd.api.ops import add_ops_routes
from ccd.ops.metrics import Metrics
from ccd.ops.readiness import Check, Readiness, ReadinessProbe, ReadinessReport
from ccd.store import migrate
from ccd.telephony.pbx import LinkStatus

Serve = Callable[[ReadinessProbe, Metrics], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(readiness: ReadinessProbe, metrics: Metrics) -> str:
        app = web.Application()
        add_ops_routes(app, metrics=metrics, readiness=readiness)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for r in runners:
        await r.cleanup()


async def _get(url: str) -> tuple[int, str, dict[str, Any] | None, str]:
    async with aiohttp.ClientSession() as s, s.get(url) as resp:
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, resp.headers["Content-Type"], body, text


async def test_healthz_is_liveness_only(serve: Serve) -> None:
    async def down() -> ReadinessReport:
        return ReadinessReport((Check("database", False, "unreachable"),))

    base = await serve(down, Metrics())
    status, _, body, _ = await _get(base + "/healthz")
    assert status == 200 and body is not None and body["status"] == "ok"


async def test_readyz_flips_with_a_fake_probe(serve: Serve) -> None:
    links = {"ami": True}

    async def probe() -> ReadinessReport:
        return ReadinessReport((
            Check("database", True),
            Check("pbx1.ari", True),
            Check("pbx1.ami", links["ami"], "" if links["ami"] else "reconnecting"),
        ), smsc={"mts": "bound", "backup": "connecting"})  # fmt: skip

    base = await serve(probe, Metrics())
    status, _, body, _ = await _get(base + "/readyz")
    assert status == 200 and body == {
        "ready": True,
        "checks": [
            {"name": "database", "ok": True, "detail": ""},
            {"name": "pbx1.ari", "ok": True, "detail": ""},
            {"name": "pbx1.ami", "ok": True, "detail": ""},
        ],
        "smsc": {"mts": "bound", "backup": "connecting"},  # shown; a down SMSC is no check
    }
    links["ami"] = False
    status, _, body, _ = await _get(base + "/readyz")
    assert status == 503
    assert body is not None and body["ready"] is False
    assert {"name": "pbx1.ami", "ok": False, "detail": "reconnecting"} in body["checks"]


async def test_readiness_checks_database_revision_and_every_link(
    serve: Serve, pool: asyncpg.Pool
) -> None:
    statuses: dict[str, dict[str, LinkStatus]] = {
        "pbx1": {"ari": LinkStatus.CONNECTED, "ami": LinkStatus.CONNECTED},
        "pbx2": {"ari": LinkStatus.CONNECTED, "ami": LinkStatus.CONNECTED},
    }

    def links() -> Mapping[str, Mapping[str, LinkStatus]]:
        return statuses

    head = migrate.head_revision("postgresql://unused/x")
    readiness = Readiness(pool=pool, head_revision=head, nodes=["pbx1", "pbx2"], links=links)
    base = await serve(readiness, Metrics())
    assert (await _get(base + "/readyz"))[0] == 200
    assert await readiness.ready() == (True, "")

    statuses["pbx2"]["ari"] = LinkStatus.RECONNECTING
    del statuses["pbx1"]["ami"]
    status, _, body, _ = await _get(base + "/readyz")
    assert status == 503
    assert body is not None
    failed = {c["name"]: c["detail"] for c in body["checks"] if not c["ok"]}
    assert failed == {"pbx2.ari": "reconnecting", "pbx1.ami": "not started"}
    ok, missing = await readiness.ready()
    assert not ok and missing == "pbx1.ami (not started), pbx2.ari (reconnecting)"

    statuses["pbx2"]["ari"] = statuses["pbx1"]["ami"] = LinkStatus.CONNECTED
    stale = Readiness(pool=pool, head_revision="9999", nodes=["pbx1"], links=links)
    report = await stale()
    assert not report.ready
    assert report.missing() == f"database (schema at {head}, needs 9999)"


async def test_readiness_reports_an_unreachable_database() -> None:
    pool = await asyncpg.create_pool(
        "postgresql://postgres@127.0.0.1:5432/postgres", min_size=0, max_size=1
    )
    await pool.close()  # a closed pool fails every acquire, as a lost server does
    readiness = Readiness(pool=pool, head_revision="0002", nodes=[], links=dict)
    report = await readiness()
    assert not report.ready
    assert report.checks[0].detail.startswith("unreachable: ")


async def test_metrics_endpoint_serves_the_registry(serve: Serve, pool: asyncpg.Pool) -> None:
    metrics = Metrics()
    metrics.call_originated("spring")
    metrics.watch_pool(pool)

    async def ok() -> ReadinessReport:
        return ReadinessReport(())

    base = await serve(ok, metrics)
    status, ctype, _, text = await _get(base + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }
    assert samples[("ccd_calls_originated_total", (("campaign", "spring"),))] == 1.0
    assert samples[("ccd_db_pool_max", ())] == 10.0


class _Quiet:
    async def on_pbx_event(self, event: object) -> None:
        pass

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        pass


async def test_readyz_follows_a_real_asterisk_double_going_down_and_up(
    serve: Serve, pool: asyncpg.Pool
) -> None:
    from ccd.config import AsteriskNode
    from ccd.sim.asterisk import AsteriskDouble
    from ccd.telephony.ami import AmiClient
    from ccd.telephony.ari_pbx import AriPbx

    double = AsteriskDouble(time_scale=0.01, node="pbx1")
    await double.start()
    node = AsteriskNode(
        name="pbx1", ari_url=double.ari_url, ari_password="ccdsecret",  # type: ignore[arg-type]
        ami_host=double.ami_host, ami_port=double.ami_port, ami_secret="ccdsecret",
    )  # fmt: skip
    pbx = AriPbx([node], backoff_initial_s=0.05, backoff_max_s=0.2)
    pbx.set_handler(_Quiet())
    ami = AmiClient(node, backoff_initial_s=0.05, backoff_max_s=0.2, ping_interval_s=0.2)
    try:
        await pbx.start()
        await ami.start()
        readiness = Readiness(
            pool=pool,
            head_revision=migrate.head_revision("postgresql://unused/x"),
            nodes=["pbx1"],
            links=lambda: {"pbx1": {"ari": pbx.link_status()["pbx1"], "ami": ami.status}},
        )
        base = await serve(readiness, Metrics())
        assert (await _get(base + "/readyz"))[0] == 200

        restart = asyncio.create_task(double.restart(refuse_for=1.0, down_for=0.3))
        seen_down: dict[str, Any] | None = None
        for _ in range(100):
            status, _, body, _ = await _get(base + "/readyz")
            if status == 503:
                seen_down = body
                break
            await asyncio.sleep(0.02)
        assert seen_down is not None, "/readyz never said 503 while Asterisk was down"
        down = {c["name"] for c in seen_down["checks"] if not c["ok"]}
        assert down & {"pbx1.ari", "pbx1.ami"}
        await restart
        for _ in range(200):
            if (await _get(base + "/readyz"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("/readyz did not come back after the restart")
    finally:
        await ami.close()
        await pbx.close()
        await double.stop()


async def test_routes_are_public_in_the_api_app(pool: asyncpg.Pool) -> None:
    """Wired as the daemon does: a route adder of ccd.api.server.build_app (auth middleware)."""
    from functools import partial

    from ccd.api.server import build_app, start_site

    async def ok() -> ReadinessReport:
        return ReadinessReport((Check("database", True),))

    metrics = Metrics()
    app = build_app(pool, [partial(add_ops_routes, metrics=metrics, readiness=ok)])
    runner = await start_site(app, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await _get(base + path))[0] == 200, path
    finally:
        await runner.cleanup()
