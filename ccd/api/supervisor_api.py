"""Read-only HTTP views for supervisors (the wallboard's data without a WebSocket), and lead
lookup with per-role scope: an agent sees only leads that are theirs (owned callbacks and MANUAL
contacts, or the contact of a call they took and have not closed); supervisors see every lead.
A lead outside the caller's scope answers 404, the same as a missing one.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from ccd.api.auth import INT8_MAX, error, path_id, principal, require_role
from ccd.api.live import LiveHub, to_json

_LEAD_SQL = """
SELECT l.id, l.campaign_id, c.name AS campaign, l.phone, l.name, l.fields, l.status,
       l.next_attempt_at, l.attempts, l.last_disposition, l.last_attempt_at, l.agent_id,
       l.time_zone
FROM leads l JOIN campaigns c ON c.id = l.campaign_id
WHERE l.id = $1
  AND ($2::int IS NULL
       OR l.agent_id = $2
       OR EXISTS (SELECT 1 FROM attempts t
                  WHERE t.lead_id = l.id AND t.agent_id = $2
                    AND (t.ended_at IS NULL OR t.disposition IS NULL)))
"""


def _lead_json(r: asyncpg.Record) -> dict[str, Any]:
    return {k: to_json(v) for k, v in dict(r).items()}


class SupervisorApi:
    """GET /api/agents, /api/calls, /api/campaigns (supervisors); GET /api/leads/{id} (scoped)."""

    def __init__(self, pool: asyncpg.Pool, hub: LiveHub) -> None:
        self._pool = pool
        self._hub = hub

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/agents", self.agents)
        app.router.add_get("/api/calls", self.calls)
        app.router.add_get("/api/campaigns", self.campaigns)
        app.router.add_get("/api/leads/{id:[0-9]+}", self.lead)

    @require_role("supervisor", "admin")
    async def agents(self, request: web.Request) -> web.Response:
        return web.json_response({"agents": self._hub.snapshot()["agents"]})

    @require_role("supervisor", "admin")
    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": self._hub.snapshot()["calls"]})

    @require_role("supervisor", "admin")
    async def campaigns(self, request: web.Request) -> web.Response:
        snap = self._hub.snapshot()
        return web.json_response({"counters": snap["counters"], "queues": snap["queues"]})

    @require_role("agent", "supervisor", "admin")
    async def lead(self, request: web.Request) -> web.Response:
        p = principal(request)
        scope = None if p.is_supervisor else p.agent_id
        if scope is None and not p.is_supervisor:
            raise error(403, "no agent linked to this user")
        lead_id = path_id(request, "lead", max_id=INT8_MAX)
        r = await self._pool.fetchrow(_LEAD_SQL, lead_id, scope)
        if r is None:
            raise error(404, "no such lead")
        return web.json_response(_lead_json(r))
