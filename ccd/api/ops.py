"""Operations endpoints: /healthz (liveness), /readyz (readiness), /metrics (Prometheus).

All three are public (no token): probes and scrapers run inside the operator's network.
/healthz answers whenever the event loop does; it checks nothing else, so a database outage
makes ccd not ready (503 on /readyz) without getting it restarted.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ccd.api.auth import public
from ccd.log import get_logger
from ccd.ops.metrics import Metrics
from ccd.ops.readiness import ReadinessProbe

log = get_logger(__name__)

READY_TIMEOUT_S = 5.0


def add_ops_routes(app: web.Application, *, metrics: Metrics, readiness: ReadinessProbe) -> None:
    started = time.monotonic()

    @public
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "uptime_s": round(time.monotonic() - started)})

    @public
    async def readyz(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                report = await readiness()
        except TimeoutError:
            return web.json_response(
                {"ready": False, "error": f"readiness check took over {READY_TIMEOUT_S} s"},
                status=503,
            )
        if not report.ready:
            log.info("ops.not_ready", missing=report.missing())
        return web.json_response(report.as_json(), status=200 if report.ready else 503)

    @public
    async def metrics_text(request: web.Request) -> web.Response:
        body, content_type = metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_text)
