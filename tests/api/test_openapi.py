"""openapi.yaml against the app the daemon builds: every route documented, every documented
operation routed, every handler guarded by a role or marked public."""

from __future__ import annotations

from functools import partial

import asyncpg
import yaml
from aiohttp import web

from ccd.api.agent_api import AgentApi
from ccd.api.auth import PUBLIC_ATTR, ROLES_ATTR
from ccd.api.console import ConsoleParts
from ccd.api.inbox_api import InboxApi
from ccd.api.mailings_api import MailingsApi
from ccd.api.openapi import documented_operations, load_spec, routed_operations
from ccd.api.ops import add_ops_routes
from ccd.api.server import build_app
from ccd.api.unsubscribe import UnsubscribeApi
from ccd.messaging.inbox import SmsInbox
from ccd.ops.metrics import Metrics
from ccd.ops.readiness import Readiness
from tests.api.conftest import ClientFactory
from tests.dialer.conftest import EngineFactory

pytest_plugins = ["tests.dialer.conftest"]


async def _daemon_app(pool: asyncpg.Pool, make_engine: EngineFactory) -> web.Application:
    """The route sets `ccd run` serves."""
    engine = await make_engine()
    parts = await ConsoleParts.create(pool, engine)
    readiness = Readiness(pool=pool, head_revision=None, nodes=[], links=dict)
    ops = partial(add_ops_routes, metrics=Metrics(), readiness=readiness)
    inbox = InboxApi(pool, SmsInbox(pool, None, parts.hub.push_to_inbox), parts.hub)
    mailing = [UnsubscribeApi(pool).add_routes, MailingsApi(pool).add_routes, inbox.add_routes]
    return build_app(pool, [AgentApi(engine).add_routes, *parts.route_adders(), ops, *mailing])


async def test_spec_matches_routes(pool: asyncpg.Pool, make_engine: EngineFactory) -> None:
    app = await _daemon_app(pool, make_engine)
    spec = load_spec()
    assert spec["openapi"].startswith("3.")
    documented, routed = documented_operations(spec), routed_operations(app)
    assert routed - documented == set(), "routes missing from openapi.yaml"
    assert documented - routed == set(), "openapi.yaml describes operations no route serves"
    assert ("POST", "/api/agent/disposition") in routed and ("GET", "/api/live") in routed


def test_every_reference_resolves() -> None:
    spec = load_spec()
    text = yaml.safe_dump(spec)
    for name in {line.split("#/components/")[1].strip("'\" ") for line in text.splitlines()
                 if "#/components/" in line}:  # fmt: skip
        section, key = name.split("/")
        assert key in spec["components"][section], f"dangling $ref {name}"


async def test_every_handler_is_guarded_or_public(
    pool: asyncpg.Pool, make_engine: EngineFactory
) -> None:
    app = await _daemon_app(pool, make_engine)
    open_routes = []
    for route in app.router.routes():
        if isinstance(route.resource, web.StaticResource) or route.method == "HEAD":
            continue
        handler = route.handler
        if not (getattr(handler, ROLES_ATTR, None) or getattr(handler, PUBLIC_ATTR, False)):
            open_routes.append(f"{route.method} {route.resource.canonical}")  # type: ignore[union-attr]
    assert open_routes == []


async def test_spec_and_console_are_served(pool: asyncpg.Pool, make_client: ClientFactory) -> None:
    from ccd.api.console import add_console_routes
    from ccd.api.openapi import add_openapi_routes

    client = await make_client(add_openapi_routes, add_console_routes)
    resp = await client.get("/api/openapi.yaml")
    assert resp.status == 200 and yaml.safe_load(await resp.text())["info"]["title"]
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/console/index.html"
    for page in ("index.html", "agent.html", "supervisor.html", "js/i18n.js", "css/console.css"):
        assert (await client.get(f"/console/{page}")).status == 200, page
