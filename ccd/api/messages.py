"""Pop-up messages from supervisors to agents.

A message goes to one agent, or to every agent of a campaign (one row per agent). It is
stored first, then pushed to the agent's open consoles. `delivered_at` is set by an atomic
claim (`UPDATE ... WHERE delivered_at IS NULL RETURNING`) right before the push, so a message
sent while the agent's console is connecting is pushed exactly once: either by the sender or
by the delivery of pending messages that runs when the agent's socket opens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field, model_validator

from ccd.api.auth import (
    INT4_MAX,
    INT8_MAX,
    Int4Id,
    error,
    json_body,
    path_id,
    principal,
    require_role,
)
from ccd.api.live import LiveHub
from ccd.log import get_logger

log = get_logger(__name__)

_COLUMNS = (
    "m.id, m.agent_id, m.campaign_id, m.body, m.created_at, m.delivered_at, m.read_at,"
    " m.from_user_id, coalesce(u.name, u.login, '') AS sender"
)
_FROM = "messages m LEFT JOIN users u ON u.id = m.from_user_id"


class SendBody(BaseModel):
    body: str = Field(min_length=1, max_length=2000)
    agent_id: Int4Id | None = None
    campaign_id: Int4Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SendBody:
        if (self.agent_id is None) == (self.campaign_id is None):
            raise ValueError("give exactly one of agent_id, campaign_id")
        return self


def _json(r: asyncpg.Record) -> dict[str, Any]:
    def iso(v: datetime | None) -> str | None:
        return v.isoformat() if v else None

    return {
        "id": r["id"],
        "agent_id": r["agent_id"],
        "campaign_id": r["campaign_id"],
        "from": r["sender"],
        "body": r["body"],
        "created_at": iso(r["created_at"]),
        "delivered_at": iso(r["delivered_at"]),
        "read_at": iso(r["read_at"]),
    }


class Messages:
    def __init__(self, pool: asyncpg.Pool, hub: LiveHub) -> None:
        self._pool = pool
        self._hub = hub

    async def send(
        self, from_user_id: int | None, body: str, *, agent_id: int | None = None,
        campaign_id: int | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Store one message per target agent, then push to those online."""
        if agent_id is not None:
            if not await self._pool.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id):
                raise error(404, f"agent_id: no agent {agent_id}")
            targets = [agent_id]
        else:
            if not await self._pool.fetchval("SELECT 1 FROM campaigns WHERE id = $1", campaign_id):
                raise error(404, f"campaign_id: no campaign {campaign_id}")
            targets = [
                r["agent_id"]
                for r in await self._pool.fetch(
                    "SELECT agent_id FROM campaign_agents WHERE campaign_id = $1 ORDER BY agent_id",
                    campaign_id,
                )
            ]
        ids = [
            r["id"]
            for r in await self._pool.fetch(
                "INSERT INTO messages (from_user_id, agent_id, campaign_id, body)"
                " SELECT $1, unnest($2::int[]), $3, $4 RETURNING id",
                from_user_id,
                targets,
                campaign_id,
                body,
            )  # fmt: skip
        ]
        for target in targets:
            if self._hub.agent_online(target):
                await self.deliver_pending(target)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE m.id = ANY($1::bigint[]) ORDER BY m.id", ids
        )
        log.info("message.sent", from_user_id=from_user_id, agents=targets, ids=ids)
        return [_json(r) for r in rows]

    async def deliver_pending(self, agent_id: int) -> int:
        """Push every undelivered message of the agent to their consoles; returns how many."""
        rows = await self._pool.fetch(
            f"""
            WITH claimed AS (
                UPDATE messages SET delivered_at = now()
                WHERE agent_id = $1 AND delivered_at IS NULL RETURNING *
            )
            SELECT {_COLUMNS.replace("m.", "c.")}
            FROM claimed c LEFT JOIN users u ON u.id = c.from_user_id ORDER BY c.id
            """,
            agent_id,
        )
        for r in rows:
            self._hub.push_to_agent(agent_id, {"type": "message", "message": _json(r)})
        return len(rows)

    async def mark_read(self, agent_id: int, message_id: int) -> dict[str, Any] | None:
        r = await self._pool.fetchrow(
            f"""
            WITH upd AS (
                UPDATE messages SET read_at = coalesce(read_at, now()),
                    delivered_at = coalesce(delivered_at, now())
                WHERE id = $1 AND agent_id = $2 RETURNING *
            )
            SELECT {_COLUMNS.replace("m.", "c.")}
            FROM upd c LEFT JOIN users u ON u.id = c.from_user_id
            """,
            message_id, agent_id,
        )  # fmt: skip
        if r is None:
            return None
        msg = _json(r)
        self._hub.push_to_supervisors({"type": "message_read", "message": msg})
        return msg


class MessagesApi:
    """POST /api/messages, GET /api/messages, POST /api/messages/{id}/read."""

    def __init__(self, messages: Messages, pool: asyncpg.Pool) -> None:
        self._messages = messages
        self._pool = pool

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/messages", self.send)
        app.router.add_get("/api/messages", self.list)
        app.router.add_post("/api/messages/{id:[0-9]+}/read", self.read)

    @require_role("supervisor", "admin")
    async def send(self, request: web.Request) -> web.Response:
        body = await json_body(request, SendBody)
        sent = await self._messages.send(
            principal(request).user_id, body.body, agent_id=body.agent_id,
            campaign_id=body.campaign_id,
        )  # fmt: skip
        return web.json_response({"messages": sent}, status=201)

    @require_role("agent", "supervisor", "admin")
    async def list(self, request: web.Request) -> web.Response:
        """An agent sees only their own messages; supervisors see all (or ?agent_id=)."""
        p = principal(request)
        unread = request.query.get("unread") in ("1", "true")
        if p.role == "agent":
            agent_id: int | None = p.agent_id
        else:
            raw = request.query.get("agent_id")
            if raw is not None and not (
                raw.isascii() and raw.isdigit() and len(raw) <= 10 and int(raw) <= INT4_MAX
            ):
                raise error(400, "agent_id: not an agent id")
            agent_id = int(raw) if raw else None
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM {_FROM}"
            " WHERE ($1::int IS NULL OR m.agent_id = $1) AND (NOT $2 OR m.read_at IS NULL)"
            " ORDER BY m.id DESC LIMIT 200",
            agent_id, unread,
        )  # fmt: skip
        return web.json_response({"messages": [_json(r) for r in rows]})

    @require_role("agent")
    async def read(self, request: web.Request) -> web.Response:
        p = principal(request)
        assert p.agent_id is not None
        msg = await self._messages.mark_read(
            p.agent_id, path_id(request, "message", max_id=INT8_MAX)
        )
        if msg is None:  # someone else's message looks the same as a missing one
            raise error(404, "no such message")
        return web.json_response(msg)
