"""The agent's HTTP API (bearer token of `ccd agent add`), under /api/agent.

    POST /api/agent/login        {"paused_reason": null}   calls the agent's phone, then READY
    POST /api/agent/logout
    POST /api/agent/ready        PAUSED -> READY; ends an inbound call's wrap-up (END automatically)
    POST /api/agent/pause        {"reason": "lunch"}
    GET  /api/agent/me           state, reason and the current call: an outbound one with the
                                 lead's data, or an inbound caller with the DID, queue, contact
    POST /api/agent/hangup       hang up the customer of the current call: WRAP_UP, phone stays up
    POST /api/agent/disposition  {"disposition": "CALLBACK", "callback_at": "...", "note": ""}
                                 for the agent's current or last call, outbound or inbound
    POST /api/agent/consent      {"channels": ["call", "sms"], "purpose": "marketing",
                                 "status": "opt_out", "note": "asked not to be called"}
                                 the customer of the current or last call said so: recorded
                                 in their contact's consent history (method agent)
    POST /api/agent/recording/pause   pause the current call's recording (card numbers, secrets)
    POST /api/agent/recording/resume  resume it; each pause is audited (who, when)
    GET  /api/agent/worklist     MANUAL campaigns: the agent's contacts, `due` when their time came
    POST /api/agent/dial         {"campaign_id": 1, "lead_id": 42}   MANUAL: dial this contact

Errors are JSON {"error": ..., "field": ...}: 400 bad input (field names it), 401 no or bad
token, 403 not an agent token, 404 unknown campaign, 409 not possible in the agent's state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ccd.api.auth import Int4Id, Int8Id, parse_json, principal, require_role
from ccd.dialer.agents import AgentError
from ccd.dialer.daemon import Engine
from ccd.dialer.recording import RecordingError
from ccd.dialer.runner import DialError
from ccd.domain.dispositions import Disposition
from ccd.inbound.agent_calls import AgentBusy, AgentCall, DispositionRefused
from ccd.store.contacts import contact_of_phone, record_consent

if TYPE_CHECKING:
    from ccd.dialer.calls import LiveAttempt
    from ccd.inbound.service import InboundService

M = TypeVar("M", bound=BaseModel)


def _error(status: int, message: str, field: str | None = None) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 409: web.HTTPConflict}[status]
    return cls(
        text=web.json_response({"error": message, "field": field}).text,
        content_type="application/json",
    )


async def _body(request: web.Request, model: type[M]) -> M:
    if request.can_read_body:
        try:
            raw: Any = await request.json(loads=parse_json)
        except ValueError as exc:
            raise _error(400, f"the body is not valid JSON ({exc})") from None
    else:
        raw = {}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or None
        raise _error(400, first["msg"], field) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Strict):
    paused_reason: str | None = Field(default=None, min_length=1, max_length=100)


class PauseBody(_Strict):
    reason: str = Field(min_length=1, max_length=100)


AgentDisposition = Literal["END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX"]


class DispositionBody(_Strict):
    disposition: AgentDisposition
    callback_at: datetime | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _callback_needs_time(self) -> DispositionBody:
        if self.disposition == "CALLBACK":
            if self.callback_at is None:
                raise ValueError("callback_at: a CALLBACK needs the date-time to call back")
            if self.callback_at.tzinfo is None:
                raise ValueError("callback_at: give a time zone (e.g. 2026-11-24T10:00:00+03:00)")
        elif self.callback_at is not None:
            raise ValueError("callback_at: only a CALLBACK takes a date-time")
        return self


class ConsentBody(_Strict):
    channels: list[Literal["call", "sms", "email", "fax"]] = Field(min_length=1)
    purpose: Literal["service", "marketing"] = "marketing"
    status: Literal["opt_in", "opt_out"]
    note: str | None = Field(default=None, max_length=2000)


class DialBody(_Strict):
    campaign_id: Int4Id
    lead_id: Int8Id


class AgentApi:
    """The agent's API over the engine and, when inbound runs beside it, the inbound calls."""

    def __init__(self, engine: Engine, inbound: InboundService | None = None) -> None:
        self._engine = engine
        self._inbound = inbound

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/agent/login", self.login)
        r.add_post("/api/agent/logout", self.logout)
        r.add_post("/api/agent/ready", self.ready)
        r.add_post("/api/agent/pause", self.pause)
        r.add_get("/api/agent/me", self.me)
        r.add_post("/api/agent/hangup", self.hangup)
        r.add_post("/api/agent/disposition", self.disposition)
        r.add_post("/api/agent/consent", self.consent)
        r.add_post("/api/agent/recording/pause", self.pause_recording)
        r.add_post("/api/agent/recording/resume", self.resume_recording)
        r.add_get("/api/agent/worklist", self.worklist)
        r.add_post("/api/agent/dial", self.dial)

    @staticmethod
    def _agent_id(request: web.Request) -> int:
        agent_id = principal(request).agent_id
        if agent_id is None:
            raise web.HTTPForbidden(
                text=web.json_response({"error": "not an agent account", "field": None}).text,
                content_type="application/json",
            )
        return agent_id

    @require_role("agent")
    async def login(self, request: web.Request) -> web.Response:
        body = await _body(request, LoginBody)
        try:
            await self._engine.agents.login(
                self._agent_id(request), paused_reason=body.paused_reason
            )
        except AgentError as exc:
            raise _error(409, str(exc)) from None
        return await self.me(request)

    @require_role("agent")
    async def logout(self, request: web.Request) -> web.Response:
        try:
            await self._engine.agents.logout(self._agent_id(request))
        except AgentError as exc:
            raise _error(409, str(exc)) from None
        return web.json_response({"state": "LOGGED_OUT"})

    @require_role("agent")
    async def ready(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request)
        try:
            await self._engine.agents.ready(agent_id)  # during a call: cancels a pause asked for
        except AgentError as exc:
            raise _error(409, str(exc)) from None
        if self._inbound is not None:
            await self._inbound.calls.end_wrapup(agent_id)
        return await self.me(request)

    @require_role("agent")
    async def pause(self, request: web.Request) -> web.Response:
        body = await _body(request, PauseBody)
        try:
            await self._engine.agents.pause(self._agent_id(request), body.reason)
        except AgentError as exc:
            raise _error(409, str(exc), "reason") from None
        return await self.me(request)

    @require_role("agent")
    async def me(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request)
        session = self._engine.agents.session(agent_id)
        if session is None:
            return web.json_response({"agent_id": agent_id, "state": "LOGGED_OUT", "call": None})
        call = None
        live = self._engine.calls.find(session.attempt_id) if session.attempt_id else None
        if live is not None:
            call = _outbound_call(live)
        elif self._inbound is not None:
            inbound = self._inbound.calls.of_agent(agent_id)
            call = _inbound_call(inbound) if inbound is not None else None
        if call is not None:
            rec = self._engine.recorder.recording(call["call_id"])
            call["recording"] = None if rec is None else {"name": rec[0], "paused": rec[1]}
        return web.json_response(
            {
                "agent_id": agent_id,
                "login": session.login,
                "state": session.state.value,
                "reason": session.reason,
                "pause_after_call": session.pause_after,
                "call": call,
            }
        )

    @require_role("agent")
    async def hangup(self, request: web.Request) -> web.Response:
        # The agent's own leg stays in their bridge: hanging up the phone would log them out.
        try:
            call_id = await self._engine.agents.hang_up_customer(self._agent_id(request))
        except AgentError as exc:
            raise _error(409, str(exc)) from None
        return web.json_response({"call_id": call_id})

    @require_role("agent")
    async def disposition(self, request: web.Request) -> web.Response:
        body = await _body(request, DispositionBody)
        agent_id = self._agent_id(request)
        disposition = Disposition(body.disposition)
        if self._inbound is not None:
            try:
                call_id = await self._inbound.calls.dispose(
                    agent_id, disposition, callback_at=body.callback_at, note=body.note
                )
            except DispositionRefused as exc:
                raise _error(400, str(exc), "disposition") from None
            except (AgentBusy, LookupError) as exc:
                raise _error(409, str(exc)) from None
            if call_id is not None:
                return web.json_response(
                    {"direction": "inbound", "call_id": call_id, "attempt_id": None,
                     "disposition": body.disposition}
                )  # fmt: skip
        try:
            attempt_id = await self._engine.calls.agent_disposition(
                agent_id, disposition, callback_at=body.callback_at, note=body.note
            )
        except AgentError as exc:
            raise _error(409, str(exc)) from None
        return web.json_response(
            {"direction": "outbound", "call_id": attempt_id, "attempt_id": attempt_id,
             "disposition": body.disposition}
        )  # fmt: skip

    @require_role("agent")
    async def consent(self, request: web.Request) -> web.Response:
        body = await _body(request, ConsentBody)
        agent_id = self._agent_id(request)
        call = self._current_call(agent_id)
        if call is None:
            raise _error(409, "no call in progress")
        call_id, phone = call
        if phone is None:
            raise _error(409, "the caller's number is withheld: no contact to record it for")
        proof = {"agent_id": agent_id, "login": principal(request).login, "call_id": call_id,
                 "note": body.note}  # fmt: skip
        async with self._engine.pool.acquire() as conn:
            contact_id = await contact_of_phone(conn, phone)
            await record_consent(conn, contact_id, body.channels, body.purpose, body.status,
                                 "agent", proof)  # fmt: skip
        return web.json_response(
            {"contact_id": contact_id, "phone": phone, "channels": body.channels,
             "purpose": body.purpose, "status": body.status}
        )  # fmt: skip

    @require_role("agent")
    async def pause_recording(self, request: web.Request) -> web.Response:
        return await self._pause_recording(request, pause=True)

    @require_role("agent")
    async def resume_recording(self, request: web.Request) -> web.Response:
        return await self._pause_recording(request, pause=False)

    def _current_call(self, agent_id: int) -> tuple[str, str | None] | None:
        """(call id, the customer's E.164 number or None) of the agent's current call, or
        of the last one while they wrap it up."""
        session = self._engine.agents.session(agent_id)
        attempt_id = session.attempt_id if session is not None else None
        live = self._engine.calls.find(attempt_id) if attempt_id is not None else None
        if live is not None:
            return live.attempt_id, live.lead.phone
        inbound = self._inbound.calls.of_agent(agent_id) if self._inbound is not None else None
        if inbound is not None:
            return inbound.call_id, inbound.phone
        return None

    async def _pause_recording(self, request: web.Request, *, pause: bool) -> web.Response:
        call = self._current_call(self._agent_id(request))
        if call is None:
            raise _error(409, "no call in progress")
        try:
            name = await self._engine.recorder.pause(call[0], principal(request).login, pause=pause)
        except RecordingError as exc:
            raise _error(409, str(exc)) from None
        return web.json_response({"recording": name, "paused": pause})

    @require_role("agent")
    async def worklist(self, request: web.Request) -> web.Response:
        agent_id = self._agent_id(request)
        now = self._engine.clock.now()
        rows = await self._engine.pool.fetch(
            """
            SELECT l.id, l.campaign_id, c.name AS campaign, l.phone, l.name, l.fields, l.status,
                   l.next_attempt_at, l.attempts, l.last_disposition,
                   l.next_attempt_at <= $2 AS due
            FROM leads l JOIN campaigns c ON c.id = l.campaign_id
            WHERE c.mode = 'MANUAL' AND c.status = 'running'
              AND l.status IN ('new', 'retry', 'callback')
              AND (l.agent_id IS NULL OR l.agent_id = $1)
              AND (NOT EXISTS (SELECT 1 FROM campaign_agents ca WHERE ca.agent_id = $1)
                   OR EXISTS (SELECT 1 FROM campaign_agents ca
                              WHERE ca.agent_id = $1 AND ca.campaign_id = c.id))
              AND NOT EXISTS (SELECT 1 FROM blacklist b WHERE b.phone = l.phone)
            ORDER BY due DESC, l.priority DESC, l.next_attempt_at
            LIMIT 500
            """,
            agent_id,
            now,
        )
        return web.json_response(
            {
                "contacts": [
                    {
                        "lead_id": r["id"],
                        "campaign_id": r["campaign_id"],
                        "campaign": r["campaign"],
                        "phone": r["phone"],
                        "name": r["name"],
                        "fields": r["fields"],
                        "status": r["status"],
                        "scheduled_at": r["next_attempt_at"].astimezone(UTC).isoformat(),
                        "attempts": r["attempts"],
                        "last_disposition": r["last_disposition"],
                        "due": r["due"],
                    }
                    for r in rows
                ]
            }
        )

    @require_role("agent")
    async def dial(self, request: web.Request) -> web.Response:
        body = await _body(request, DialBody)
        runner = self._engine.supervisor.runner(body.campaign_id)
        if runner is None:
            raise _error(404, "no running campaign with this id", "campaign_id")
        try:
            attempt_id = await runner.dial_for_agent(self._agent_id(request), body.lead_id)
        except DialError as exc:
            raise _error(409, str(exc), "lead_id") from None
        return web.json_response({"attempt_id": attempt_id}, status=201)


def _outbound_call(live: LiveAttempt) -> dict[str, Any]:
    return {
        "direction": "outbound",
        "call_id": live.attempt_id,
        "attempt_id": live.attempt_id,
        "campaign_id": live.campaign.id,
        "campaign": live.campaign.name,
        "lead": {
            "id": live.lead.lead_id,
            "phone": live.lead.phone,
            "name": live.lead.name,
            "fields": live.lead.fields,
            "attempts": live.lead.attempts,
        },
        "answered_at": live.answered_at.isoformat() if live.answered_at else None,
        "ended": live.ended,
    }


def _inbound_call(call: AgentCall) -> dict[str, Any]:
    """The caller, the number they dialled, the queue, and their lead when the number has one."""
    c = call.contact
    return {
        "direction": "inbound",
        "call_id": call.call_id,
        "attempt_id": None,
        "caller": call.caller,
        "did": call.did,
        "queue": call.queue,
        "campaign_id": call.campaign_id,
        "contact": None if c is None else {
            "lead_id": c.lead_id, "campaign_id": c.campaign_id, "phone": c.phone,
            "name": c.name, "fields": c.fields,
        },
        "answered_at": call.answered_at.isoformat(),
        "ended": call.ended,
    }  # fmt: skip
