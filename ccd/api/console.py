"""The web console: its static pages, and the wiring of the API parts behind them.

The daemon builds the parts once and hands their route adders to `build_app`:

    parts = await ConsoleParts.create(pool, engine)
    app = build_app(pool, [AgentApi(engine).add_routes, *parts.route_adders(), ops_adder])

`ConsoleParts.create` also registers the spy service with the engine's Pbx event router.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from ccd.api.auth import AuthApi, public
from ccd.api.live import LiveApi, LiveHub
from ccd.api.messages import Messages, MessagesApi
from ccd.api.openapi import add_openapi_routes
from ccd.api.recordings_api import RecordingsApi
from ccd.api.session_watch import SessionWatch
from ccd.api.spy import SpyApi, SpyService
from ccd.api.supervisor_api import SupervisorApi

if TYPE_CHECKING:
    from ccd.dialer.daemon import Engine

STATIC_DIR = Path(__file__).with_name("static")

RouteAdder = Callable[[web.Application], None]


@public
async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/index.html")


async def _console_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The pages load only their own scripts and styles, talk only to this host, and are
    never framed (clickjacking)."""
    if not request.path.startswith("/console/"):
        return
    host = request.host
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; connect-src 'self' ws://{host} wss://{host};"
        " frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"


def add_console_routes(app: web.Application) -> None:
    """/ and /console redirect to the sign-in page; /console/ serves ccd/api/static/."""
    app.router.add_get("/", _to_console)
    app.router.add_get("/console", _to_console)
    app.router.add_static("/console/", STATIC_DIR, append_version=False)
    app.on_response_prepare.append(_console_headers)


@dataclass
class ConsoleParts:
    pool: asyncpg.Pool
    hub: LiveHub
    messages: Messages
    spy: SpyService
    auth: AuthApi
    sessions: SessionWatch
    recordings: RecordingsApi

    @classmethod
    async def create(
        cls, pool: asyncpg.Pool, engine: Engine, *, secure_cookie: bool = False
    ) -> ConsoleParts:
        hub = LiveHub()
        await hub.load(pool)
        spy = SpyService(pool, engine.pbx, engine.agents, hub)
        engine.router.add_handler(SpyService.owns, spy)
        auth = AuthApi(pool, secure_cookie=secure_cookie)
        return cls(
            pool, hub, Messages(pool, hub), spy, auth, SessionWatch(pool),
            RecordingsApi(pool, engine.pbx),
        )  # fmt: skip

    def route_adders(self) -> list[RouteAdder]:
        return [
            self.auth.add_routes,
            LiveApi(
                self.hub, self.sessions, on_agent_connect=self.messages.deliver_pending
            ).add_routes,
            MessagesApi(self.messages, self.pool).add_routes,
            SpyApi(self.spy).add_routes,
            SupervisorApi(self.pool, self.hub).add_routes,
            self.recordings.add_routes,
            add_openapi_routes,
            add_console_routes,
        ]
