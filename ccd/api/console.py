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
from ccd.api.spy import SpyApi, SpyService
from ccd.api.supervisor_api import SupervisorApi

if TYPE_CHECKING:
    from ccd.dialer.daemon import Engine

STATIC_DIR = Path(__file__).with_name("static")

RouteAdder = Callable[[web.Application], None]


@public
async def _to_console(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/console/index.html")


def add_console_routes(app: web.Application) -> None:
    """/ and /console redirect to the sign-in page; /console/ serves ccd/api/static/."""
    app.router.add_get("/", _to_console)
    app.router.add_get("/console", _to_console)
    app.router.add_static("/console/", STATIC_DIR, append_version=False)


@dataclass
class ConsoleParts:
    pool: asyncpg.Pool
    hub: LiveHub
    messages: Messages
    spy: SpyService
    auth: AuthApi

    @classmethod
    async def create(cls, pool: asyncpg.Pool, engine: Engine) -> ConsoleParts:
        hub = LiveHub()
        await hub.load(pool)
        spy = SpyService(pool, engine.pbx, engine.agents, hub)
        engine.router.add_handler(SpyService.owns, spy)
        return cls(pool, hub, Messages(pool, hub), spy, AuthApi(pool))

    def route_adders(self) -> list[RouteAdder]:
        return [
            self.auth.add_routes,
            LiveApi(self.hub, on_agent_connect=self.messages.deliver_pending).add_routes,
            MessagesApi(self.messages, self.pool).add_routes,
            SpyApi(self.spy).add_routes,
            SupervisorApi(self.pool, self.hub).add_routes,
            add_openapi_routes,
            add_console_routes,
        ]
