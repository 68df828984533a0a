"""Listen, whisper and barge: a supervisor joins an agent's live call from their own phone.

ccd calls the supervisor's phone (users.endpoint) as call `spy-{session}-sup`; once it answers,
the mode is applied:

- listen:  a snoop on the agent's phone leg with spy=both, whisper=none, in the private mixing
           bridge `spy-{session}` with the supervisor. Spying `both` directions of the agent's
           channel gives what the agent says (in) and what the agent hears, the customer (out).
- whisper: the same with whisper=out. ARI's snoop docs (channels.json: "whisper: Direction of
           audio to whisper into") give directions relative to the snooped channel; "out" is
           the audio Asterisk sends out of that channel, i.e. towards the agent's phone (ChanSpy's
           whisper mode, in asterisk-22-docs.xml, works the same way: "the spying channel can
           talk to the spied-on channel"). We snoop the agent's leg, not the customer's, so only
           the agent hears the supervisor; the injected audio is added after the agent's bridge
           has mixed, so it never reaches the customer. Listening stays silent for the same
           reason: whisper=none injects nothing.
- barge:   no snoop; the supervisor's leg joins the agent's own mixing bridge `agent-{id}`, a
           three-way conference that the customer hears too.

A snoop's direction cannot be changed, so a mode switch replaces the snoop (listen <-> whisper)
or moves the supervisor's leg between the private bridge and the agent's bridge (barge). The
session ends when the supervisor stops it or hangs up, when the agent's leg goes (the snoop
ends), or when the customer call ends. Every start, switch and end is written to spy_sessions
before the Asterisk commands are sent.

Pbx events: the service is a PbxHandler for the calls it owns (`spy-...` ids); the engine's
router is told so with `engine.router.add_handler(SpyService.owns, spy)`. Customer-call ends
reach it through `LiveHub.on_call_ended`.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from ccd.api.auth import INT8_MAX, Int4Id, error, json_body, path_id, principal, require_role
from ccd.api.live import CallLive, LiveHub
from ccd.domain.agents import AgentState
from ccd.log import get_logger
from ccd.telephony.pbx import CallAnswered, CallEnded, Pbx, PbxError, PbxEvent, SpyDirection

log = get_logger(__name__)

Mode = Literal["listen", "whisper", "barge"]
_PREFIX = "spy-"
# snoop directions per mode; barge uses no snoop
_SNOOP: dict[str, tuple[SpyDirection, SpyDirection]] = {
    "listen": ("both", "none"),
    "whisper": ("both", "out"),
}


class AgentLegView(Protocol):
    """What the spy service reads of an agent's session (ccd.dialer.agents.AgentSession)."""

    @property
    def leg_id(self) -> str | None: ...
    @property
    def bridge_id(self) -> str: ...
    @property
    def attempt_id(self) -> str | None: ...
    @property
    def state(self) -> AgentState: ...
    @property
    def node(self) -> str | None: ...


class AgentSessions(Protocol):
    def session(self, agent_id: int) -> AgentLegView | None: ...


class SpyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class SpySession:
    id: int
    user_id: int
    agent_id: int
    call_id: str  # the customer call being spied on
    agent_leg: str
    agent_bridge: str
    mode: str
    state: str = "calling"  # calling -> active -> ended
    snoop_id: str | None = None
    answered: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _snoops: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def sup_leg(self) -> str:
        return f"{_PREFIX}{self.id}-sup"

    @property
    def bridge_id(self) -> str:
        return f"{_PREFIX}{self.id}"

    def next_snoop_id(self) -> str:
        return f"{_PREFIX}{self.id}-snoop{next(self._snoops)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "user_id": self.user_id, "agent_id": self.agent_id,
            "call_id": self.call_id, "mode": self.mode, "state": self.state,
        }  # fmt: skip


class SpyService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pbx: Pbx,
        agents: AgentSessions,
        hub: LiveHub,
        *,
        answer_timeout_s: float = 30.0,
        caller_id: str = "ccd supervisor",
    ) -> None:
        self._pool = pool
        self._pbx = pbx
        self._agents = agents
        self._hub = hub
        self._answer_timeout_s = answer_timeout_s
        self._caller_id = caller_id
        self._sessions: dict[int, SpySession] = {}
        hub.on_call_ended(self._customer_call_ended)

    @staticmethod
    def owns(call_id: str) -> bool:
        return call_id.startswith(_PREFIX)

    def sessions(self) -> list[SpySession]:
        return list(self._sessions.values())

    def get(self, session_id: int) -> SpySession | None:
        return self._sessions.get(session_id)

    # --- commands ---

    async def start(
        self, user_id: int, endpoint: str | None, agent_id: int, mode: Mode
    ) -> SpySession:
        """Call the supervisor's phone and, once answered, join the agent's call in `mode`."""
        if not endpoint:
            raise SpyError(409, "endpoint: you have no phone configured (ccd user add --endpoint)")
        if any(s.user_id == user_id for s in self._sessions.values()):
            raise SpyError(409, "you are already in a listen/whisper/barge session; stop it first")
        agent = self._agents.session(agent_id)
        if agent is None or agent.leg_id is None:
            raise SpyError(409, f"agent {agent_id} is not logged in")
        if agent.state is not AgentState.TALKING or agent.attempt_id is None:
            raise SpyError(409, f"agent {agent_id} is not on a call ({agent.state.value})")
        session_id = await self._pool.fetchval(
            "INSERT INTO spy_sessions (user_id, agent_id, call_id, mode, modes)"
            " VALUES ($1, $2, $3, $4, jsonb_build_array(jsonb_build_object('mode', $4::text,"
            " 'at', now()))) RETURNING id",
            user_id, agent_id, agent.attempt_id, mode,
        )  # fmt: skip
        s = SpySession(
            session_id, user_id, agent_id, agent.attempt_id, agent.leg_id, agent.bridge_id, mode
        )
        self._sessions[s.id] = s
        log.info("spy.start", session_id=s.id, user_id=user_id, agent_id=agent_id, mode=mode)
        try:
            # The snoop, the supervisor's leg and the spy bridge: all on the agent's node.
            await self._pbx.originate(
                s.sup_leg, endpoint, caller_id=self._caller_id,
                timeout_s=max(15, int(self._answer_timeout_s)), node=agent.node,
            )  # fmt: skip
            async with asyncio.timeout(self._answer_timeout_s):
                await asyncio.shield(s.answered)
            async with s.lock:
                if s.state == "ended":
                    raise SpyError(409, "the call ended before your phone answered")
                await self._pbx.create_bridge(s.bridge_id, node=agent.node)
                await self._apply(s, mode, sup_in_bridge=False)
                s.state = "active"
        except TimeoutError:
            s.answered.cancel()  # nobody waits for it any more
            await self.stop(s.id, why="no_answer")
            raise SpyError(504, f"your phone {endpoint} did not answer") from None
        except PbxError as exc:
            s.answered.cancel()
            await self.stop(s.id, why="pbx_error")
            raise SpyError(502, f"Asterisk refused: {exc}") from None
        except SpyError:
            await self.stop(s.id, why="call_ended")
            raise
        self._notify(s)
        return s

    async def switch(self, session_id: int, mode: Mode) -> SpySession:
        s = self._sessions.get(session_id)
        if s is None:
            raise SpyError(404, f"no live spy session {session_id}")
        async with s.lock:
            if s.state != "active":
                raise SpyError(409, f"session {session_id} is {s.state}")
            if mode == s.mode:
                return s
            await self._pool.execute(
                "UPDATE spy_sessions SET mode = $2, modes = modes || jsonb_build_array("
                "jsonb_build_object('mode', $2::text, 'at', now())) WHERE id = $1",
                s.id, mode,
            )  # fmt: skip
            log.info("spy.switch", session_id=s.id, from_mode=s.mode, to_mode=mode)
            try:
                await self._leave(s)
                await self._apply(s, mode, sup_in_bridge=s.mode != "barge")
            except PbxError as exc:
                raise SpyError(502, f"Asterisk refused: {exc}") from None
        self._notify(s)
        return s

    async def stop(self, session_id: int, *, why: str = "stopped") -> None:
        """End the session: hang up the supervisor's leg and the snoop, drop the private bridge."""
        s = self._sessions.pop(session_id, None)
        if s is None:
            return
        async with s.lock:
            s.state = "ended"
            await self._pool.execute(
                "UPDATE spy_sessions SET ended_at = now() WHERE id = $1 AND ended_at IS NULL", s.id
            )
            log.info("spy.end", session_id=s.id, why=why)
            # start() may be waiting for the phone: tell it why not, once the row is closed.
            if not s.answered.done():
                if why == "supervisor_no_answer":
                    s.answered.set_exception(SpyError(504, "your phone did not answer"))
                else:
                    s.answered.set_exception(SpyError(409, f"the session ended ({why})"))
            for call_id in (s.snoop_id, s.sup_leg):
                if call_id is not None:
                    await self._quietly(self._pbx.hangup(call_id))
            await self._quietly(self._pbx.destroy_bridge(s.bridge_id))
        self._notify(s)

    # --- the mode mechanics ---

    async def _apply(self, s: SpySession, mode: str, *, sup_in_bridge: bool) -> None:
        """Join in `mode`; sup_in_bridge: the supervisor's leg is already in the private bridge."""
        if mode == "barge":
            await self._pbx.add_to_bridge(s.agent_bridge, [s.sup_leg])
        else:
            spy, whisper = _SNOOP[mode]
            snoop_id = s.next_snoop_id()
            await self._pbx.snoop(s.agent_leg, snoop_id, spy=spy, whisper=whisper)
            s.snoop_id = snoop_id
            legs = [snoop_id] if sup_in_bridge else [snoop_id, s.sup_leg]
            await self._pbx.add_to_bridge(s.bridge_id, legs)
        s.mode = mode

    async def _leave(self, s: SpySession) -> None:
        """Undo the current mode, keeping the supervisor's leg up."""
        if s.mode == "barge":
            await self._pbx.remove_from_bridge(s.agent_bridge, [s.sup_leg])
            return
        old, s.snoop_id = s.snoop_id, None
        if old is not None:
            await self._pbx.hangup(old)

    # --- events ---

    async def on_pbx_event(self, event: PbxEvent) -> None:
        s = self._session_of(event.call_id)
        if s is None:
            return
        if isinstance(event, CallAnswered) and event.call_id == s.sup_leg:
            if not s.answered.done():
                s.answered.set_result(None)
        elif isinstance(event, CallEnded):
            if event.call_id == s.sup_leg:
                why = "supervisor_hung_up" if s.answered.done() else "supervisor_no_answer"
                await self.stop(s.id, why=why)
            elif event.call_id == s.snoop_id:  # the agent's leg is gone
                await self.stop(s.id, why="agent_leg_ended")

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        for s in list(self._sessions.values()):
            if s.state == "active" and s.sup_leg not in live_call_ids:
                await self.stop(s.id, why="lost")

    def _customer_call_ended(self, call: CallLive) -> None:
        for s in list(self._sessions.values()):
            if s.call_id == call.call_id:
                task = asyncio.get_running_loop().create_task(self.stop(s.id, why="call_ended"))
                task.add_done_callback(_log_failure)

    def _session_of(self, call_id: str) -> SpySession | None:
        head = call_id[len(_PREFIX) :].split("-", 1)[0]
        return self._sessions.get(int(head)) if head.isdigit() else None

    def _notify(self, s: SpySession) -> None:
        self._hub.push_to_supervisors({"type": "spy", "session": s.to_json()})

    @staticmethod
    async def _quietly(coro: Any) -> None:
        try:
            await coro
        except PbxError as exc:
            log.warning("spy.cleanup_failed", error=str(exc))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("spy.stop_failed", error=repr(task.exception()))


class StartBody(BaseModel):
    agent_id: Int4Id
    mode: Mode = "listen"


class ModeBody(BaseModel):
    mode: Mode


class SpyApi:
    """POST /api/spy, GET /api/spy, POST /api/spy/{id}/mode, DELETE /api/spy/{id}."""

    def __init__(self, service: SpyService) -> None:
        self._spy = service

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/spy", self.start)
        app.router.add_get("/api/spy", self.list)
        app.router.add_post("/api/spy/{id:[0-9]+}/mode", self.switch)
        app.router.add_delete("/api/spy/{id:[0-9]+}", self.stop)

    @require_role("supervisor", "admin")
    async def start(self, request: web.Request) -> web.Response:
        body = await json_body(request, StartBody)
        p = principal(request)
        if p.user_id is None:
            raise error(403, "a user login is needed")
        try:
            s = await self._spy.start(p.user_id, p.endpoint, body.agent_id, body.mode)
        except SpyError as exc:
            raise error(exc.status, str(exc)) from None
        return web.json_response(s.to_json(), status=201)

    @require_role("supervisor", "admin")
    async def list(self, request: web.Request) -> web.Response:
        return web.json_response({"sessions": [s.to_json() for s in self._spy.sessions()]})

    @require_role("supervisor", "admin")
    async def switch(self, request: web.Request) -> web.Response:
        body = await json_body(request, ModeBody)
        s = self._own(request)
        try:
            s = await self._spy.switch(s.id, body.mode)
        except SpyError as exc:
            raise error(exc.status, str(exc)) from None
        return web.json_response(s.to_json())

    @require_role("supervisor", "admin")
    async def stop(self, request: web.Request) -> web.Response:
        s = self._own(request)
        await self._spy.stop(s.id)
        return web.json_response({**s.to_json(), "state": "ended"})

    def _own(self, request: web.Request) -> SpySession:
        """A session of the caller (an admin may end anyone's)."""
        p = principal(request)
        s = self._spy.get(path_id(request, "live session", max_id=INT8_MAX))
        if s is None or (s.user_id != p.user_id and p.role != "admin"):
            raise error(404, "no such live session")
        return s
