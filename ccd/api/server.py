"""The aiohttp application and its runner; route sets plug in as `add_routes(app)` callables.

    app = build_app(pool, [AgentApi(engine).add_routes, other_api.add_routes, ...])

build_app installs what every route set relies on: JSON errors ({"error": ..., "field": ...}
for anything raised as an HTTPException with a JSON body, {"error": "internal error"} for a
crash) and the bearer-token middleware of ccd.api.auth (agent tokens and user sessions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg
from aiohttp import web

from ccd.api.auth import Handler, auth_middleware
from ccd.log import get_logger

log = get_logger(__name__)

RouteAdder = Callable[[web.Application], None]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        raise type(exc)(
            text=web.json_response({"error": exc.reason}).text, content_type="application/json"
        ) from None
    except Exception:
        log.exception("api.crash", path=request.path, method=request.method)
        return web.json_response({"error": "internal error"}, status=500)


def build_app(pool: asyncpg.Pool, route_adders: Sequence[RouteAdder] = ()) -> web.Application:
    app = web.Application(middlewares=[json_errors, auth_middleware(pool)])
    for add in route_adders:
        add(app)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port; the caller awaits runner.cleanup() on shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("api.listening", host=host, port=port)
    return runner
