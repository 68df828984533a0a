"""The managers' SMS inbox (managers, supervisors and admins):

    GET  /api/inbox?code=VOTE&status=new,assigned&from=2026-12-01&to=2026-12-03&before=ID
    GET  /api/inbox/{id}              one message, its replies, the contact's history
    POST /api/inbox/{id}/reply        {"text": "..."}: an SMS to the sender
    POST /api/inbox/{id}/done
    POST /api/inbox/{id}/assign       {"login": "olga"} (leave it out: to me; null: to nobody)

New messages and replies are pushed over GET /api/live as `sms_inbound` (a burst as one
`sms_inbound_many`) and `sms_reply`, assignments and dones as `sms_updated`. `from`/`to` are
days (UTC; `to` included) or ISO 8601 times.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ccd.api.auth import (
    INT8_MAX,
    error,
    json_body,
    path_id,
    principal,
    query_model,
    require_role,
)
from ccd.api.live import LiveHub, to_json
from ccd.messaging.inbox import NoSmsLink, SmsInbox
from ccd.store import inbox as store
from ccd.store.contacts import contact_history
from ccd.store.schema import SMS_INBOUND_STATUSES

ROLES = ("manager", "supervisor", "admin")
_UNSET = "\x00me"


def _when(value: str, *, end: bool) -> dt.datetime:
    """A day (UTC; the end of a `to` day) or an ISO 8601 time (UTC when it has no zone)."""
    if len(value) == 10:
        day = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
        return day + dt.timedelta(days=1) if end else day
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


class InboxQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    code: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, max_length=100)
    since: str | None = Field(default=None, alias="from", max_length=40)
    until: str | None = Field(default=None, alias="to", max_length=40)
    before: int | None = Field(default=None, gt=0, le=INT8_MAX)
    limit: int = Field(default=100, ge=1, le=1000)

    @field_validator("status")
    @classmethod
    def _statuses(cls, v: str | None) -> str | None:
        for s in (v or "").split(","):
            if s and s not in SMS_INBOUND_STATUSES:
                raise ValueError(f"{s!r} is not one of {', '.join(SMS_INBOUND_STATUSES)}")
        return v

    def filter(self) -> store.InboxFilter:
        try:
            since = _when(self.since, end=False) if self.since else None
            until = _when(self.until, end=True) if self.until else None
        except ValueError as exc:
            raise error(400, f"from/to: {exc}") from None
        statuses = tuple(s for s in (self.status or "").split(",") if s)
        return store.InboxFilter(self.code, statuses, since, until, self.before, self.limit)


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str | None = Field(default=_UNSET, max_length=200)


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: to_json(v) for k, v in row.items()}


class InboxApi:
    def __init__(self, pool: asyncpg.Pool, inbox: SmsInbox, hub: LiveHub) -> None:
        self._pool = pool
        self._inbox = inbox
        self._hub = hub

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/inbox", self.search)
        app.router.add_get("/api/inbox/{id:[0-9]+}", self.get)
        app.router.add_post("/api/inbox/{id:[0-9]+}/reply", self.reply)
        app.router.add_post("/api/inbox/{id:[0-9]+}/done", self.done)
        app.router.add_post("/api/inbox/{id:[0-9]+}/assign", self.assign)

    @require_role(*ROLES)
    async def search(self, request: web.Request) -> web.Response:
        q = query_model(request, InboxQuery)
        rows = await store.list_inbox(self._pool, q.filter())
        return web.json_response({"messages": [_json(r) for r in rows]})

    @require_role(*ROLES)
    async def get(self, request: web.Request) -> web.Response:
        inbound_id = path_id(request, "message", max_id=INT8_MAX)
        row = await store.get_message(self._pool, inbound_id)
        if row is None:
            raise error(404, "no such message")
        history: dict[str, list[Any]] = {"consent": [], "calls": [], "messages": [], "sms": []}
        if row["contact_id"] is not None:
            async with self._pool.acquire() as conn:
                history = await contact_history(conn, row["contact_id"])
        return web.json_response({
            **_json(row), "replies": [_json(r) for r in await store.replies_of(self._pool,
                                                                                inbound_id)],
            "history": {k: [_json(dict(r)) for r in v] for k, v in history.items()},
        })  # fmt: skip

    @require_role(*ROLES)
    async def reply(self, request: web.Request) -> web.Response:
        inbound_id = path_id(request, "message", max_id=INT8_MAX)
        body = await json_body(request, ReplyBody)
        try:
            out = await self._inbox.reply(inbound_id, body.text, user_id=principal(request).user_id)
        except KeyError:
            raise error(404, "no such message") from None
        except NoSmsLink:
            raise error(503, "no SMSC link is configured (ccd smsc add)") from None
        status = 200 if out["state"] == "sent" else 502
        return web.json_response(out, status=status)

    @require_role(*ROLES)
    async def done(self, request: web.Request) -> web.Response:
        inbound_id = path_id(request, "message", max_id=INT8_MAX)
        try:
            await store.mark_done(self._pool, inbound_id, principal(request).user_id)
        except store.InboxError as exc:
            raise error(exc.status, str(exc)) from None
        return await self._updated(inbound_id)

    @require_role(*ROLES)
    async def assign(self, request: web.Request) -> web.Response:
        inbound_id = path_id(request, "message", max_id=INT8_MAX)
        body = await json_body(request, AssignBody)
        login = principal(request).login if body.login == _UNSET else body.login
        try:
            await store.assign(self._pool, inbound_id, login)
        except store.InboxError as exc:
            raise error(exc.status, str(exc)) from None
        return await self._updated(inbound_id)

    async def _updated(self, inbound_id: int) -> web.Response:
        row = await store.get_message(self._pool, inbound_id)
        assert row is not None
        message = _json(row)
        self._hub.push_to_inbox({"type": "sms_updated", "message": message})
        return web.json_response(message)
