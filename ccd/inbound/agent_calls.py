"""Inbound calls agents are on or wrapping up: what the agent API shows, dispositions, wrap-up.

A caller an agent answered is an `AgentCall` until the agent's wrap-up ends. The runner reports
the answer, the hangup and the written end of the call; the rest is here: the agent's
disposition (stored on the call's inbound_calls row), `ready` ending the wrap-up, and the
wrap-up timer (the `--wrapup-timeout` of `ccd run`, as for outbound calls) after which the call
gets END automatically. An agent's later disposition still replaces that automatic END, and it
is for the agent's last call only: an inbound call is never disposed in place of an outbound
attempt, nor the other way round (store.last_call_of_agent, CallManager.agent_disposition).

Inbound calls take END or CALLBACK. They never blacklist a number or apply a campaign's retry
rules: the caller dialled us, so the outbound verdicts (BAD_NUMBER, FAX, NO_ANSWER, ...) say
nothing about their number, and a number is blacklisted on purpose (`ccd blacklist add`). A
CALLBACK makes the caller's number a callback lead due at callback_at in the campaign of the
call's DID route (`ccd inbound route add --campaign`); a call without one cannot take it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from ccd.dialer.clock import Clock
from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition, DispositionSource
from ccd.domain.phones import InvalidNumber, normalize
from ccd.inbound.agents_port import AgentsPort, reservation_id
from ccd.log import get_logger
from ccd.store import inbound as store

log = get_logger(__name__)

INBOUND_DISPOSITIONS = (Disposition.END, Disposition.CALLBACK)
_ON_A_CALL = (AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP)


class DispositionRefused(ValueError):
    """This disposition does not fit the inbound call (bad input: the message says why)."""


class AgentBusy(Exception):
    """The agent is still talking with the caller."""


@dataclass(frozen=True, slots=True)
class Contact:
    """The lead of the caller's number, if there is one."""

    lead_id: int
    campaign_id: int
    phone: str
    name: str
    fields: dict[str, Any]


@dataclass(eq=False)
class AgentCall:
    call_id: str  # the caller's channel id (inbound_calls.id)
    agent_id: int
    caller: str
    did: str
    queue: str
    campaign_id: int | None
    answered_at: datetime
    contact: Contact | None = None
    phone: str | None = None  # the caller's number in E.164; None when withheld or garbled
    ended: bool = False
    end_written: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def rid(self) -> str:
        return reservation_id(self.call_id)


class AgentCallListener(Protocol):
    """Told when an agent's inbound call starts and ends (the live hub's call rows)."""

    def agent_call_started(self, call: AgentCall) -> None: ...

    def agent_call_ended(self, call: AgentCall) -> None: ...


class AgentCalls:
    def __init__(
        self,
        pool: asyncpg.Pool,
        agents: AgentsPort,
        clock: Clock,
        *,
        wrapup_timeout_s: float,
        region: str | None,
    ) -> None:
        self._pool = pool
        self._agents = agents
        self._clock = clock
        self._wrapup_timeout_s = wrapup_timeout_s
        self._region = region
        self._calls: dict[str, AgentCall] = {}  # by reservation id
        self._listener: AgentCallListener | None = None

    def set_listener(self, listener: AgentCallListener) -> None:
        self._listener = listener

    def of_agent(self, agent_id: int) -> AgentCall | None:
        """The inbound call the agent is on or wrapping up, if any. Found through the agent's
        session: a call the agent left by logging out waits for its timer here, and must not
        be taken for the call of their next shift."""
        session = next((s for s in self._agents.sessions() if s.agent_id == agent_id), None)
        if session is None or session.attempt_id is None:
            return None
        call = self._calls.get(session.attempt_id)
        return call if call is not None and call.agent_id == agent_id else None

    # --- what the runner reports ---

    async def answered(
        self,
        call_id: str,
        agent_id: int,
        *,
        caller: str,
        did: str,
        queue: str,
        campaign_id: int | None,
        at: datetime,
    ) -> AgentCall:
        try:
            phone: str | None = normalize(caller, self._region).e164
        except InvalidNumber:
            phone = None
        call = AgentCall(call_id, agent_id, caller, did, queue, campaign_id, at,
                         contact=await self._contact(phone, campaign_id), phone=phone)  # fmt: skip
        self._calls[call.rid] = call
        if self._listener is not None:
            self._listener.agent_call_started(call)
        return call

    def hung_up(self, call: AgentCall) -> None:
        """The caller is gone. Called before the agent turns WRAP_UP, so a disposition that
        comes at once finds the call, and the wrap-up time runs from here."""
        call.ended = True
        call.timer = asyncio.create_task(self._timeout(call), name=f"wrapup-{call.call_id}")
        call.timer.add_done_callback(_log_failure)
        if self._listener is not None:
            self._listener.agent_call_ended(call)

    def forget(self, call: AgentCall) -> None:
        """The agent owes nothing for the call (their phone dropped, or they were not talking)."""
        if self._calls.pop(call.rid, None) is None:
            return
        if call.timer is not None:
            call.timer.cancel()
        if not call.ended and self._listener is not None:
            self._listener.agent_call_ended(call)

    # --- what the agent does ---

    async def dispose(
        self,
        agent_id: int,
        disposition: Disposition,
        *,
        callback_at: datetime | None = None,
        note: str | None = None,
    ) -> str | None:
        """The agent's disposition of their inbound call; its call id. None when the agent's
        current or last call is not an inbound one (the outbound side has it).

        Raises AgentBusy while the agent talks, DispositionRefused for a disposition the call
        cannot take, and LookupError when that call already has the agent's disposition.
        """
        call = self.of_agent(agent_id)
        if call is not None:
            if not call.ended:
                raise AgentBusy(f"agent {agent_id} is still on the call; disposition it after")
            phone = self._check(disposition, call.caller, call.campaign_id)
            await self._finish(call, disposition, DispositionSource.AGENT,
                               callback_at=callback_at, note=note, phone=phone)  # fmt: skip
            return call.call_id
        if any(s.agent_id == agent_id and s.state in _ON_A_CALL for s in self._agents.sessions()):
            return None  # on (or wrapping up) an outbound call
        # Not on a call: a late disposition, for the agent's last call if it was inbound.
        call_id = await store.last_call_of_agent(self._pool, agent_id)
        if call_id is None:
            return None
        row = await self._pool.fetchrow(
            "SELECT caller, campaign_id FROM inbound_calls WHERE id = $1", call_id
        )
        assert row is not None  # last_call_of_agent just found it; rows are never deleted live
        phone = self._check(disposition, row["caller"], row["campaign_id"])
        written = await self._write(
            call_id, row["campaign_id"], disposition, DispositionSource.AGENT,
            callback_at=callback_at, note=note, phone=phone,
        )  # fmt: skip
        if not written:
            raise LookupError(f"call {call_id} already has an agent disposition")
        return call_id

    async def end_wrapup(self, agent_id: int) -> bool:
        """`ready` during an inbound wrap-up: the call gets END automatically, the agent is
        READY (or PAUSED if asked during the call). False when not in an inbound wrap-up."""
        call = self.of_agent(agent_id)
        if call is None or not call.ended:
            return False
        log.info("inbound.wrapup_ended", call_id=call.call_id, agent_id=agent_id)
        await self._finish(call, Disposition.END, DispositionSource.AUTO)
        return True

    async def close(self) -> None:
        """Shutdown: owed dispositions get the automatic END now, as outbound ones do."""
        for call in list(self._calls.values()):
            if call.ended and call.end_written.is_set():
                await self._finish(call, Disposition.END, DispositionSource.AUTO)
            else:
                self.forget(call)

    # --- the work ---

    async def _timeout(self, call: AgentCall) -> None:
        await asyncio.sleep(self._wrapup_timeout_s)
        log.info("inbound.wrapup_timeout", call_id=call.call_id, agent_id=call.agent_id)
        await self._finish(call, Disposition.END, DispositionSource.AUTO)

    async def _finish(
        self,
        call: AgentCall,
        disposition: Disposition,
        source: DispositionSource,
        *,
        callback_at: datetime | None = None,
        note: str | None = None,
        phone: str | None = None,
    ) -> None:
        if self._calls.pop(call.rid, None) is None:
            return  # finished already (the timer and the agent at the same moment)
        if call.timer is not None and call.timer is not asyncio.current_task():
            call.timer.cancel()
        await call.end_written.wait()  # the runner's closing update of the row comes first
        await self._write(call.call_id, call.campaign_id, disposition, source,
                          callback_at=callback_at, note=note, phone=phone)  # fmt: skip
        # An agent who logged out during the wrap-up may be on their next call by now.
        if any(s.agent_id == call.agent_id and s.attempt_id == call.rid
               for s in self._agents.sessions()):  # fmt: skip
            await self._agents.dispose(call.agent_id, call.rid)

    async def _write(
        self,
        call_id: str,
        campaign_id: int | None,
        disposition: Disposition,
        source: DispositionSource,
        *,
        callback_at: datetime | None,
        note: str | None,
        phone: str | None,
    ) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            written = await store.dispose(
                conn, call_id, disposition.value, source.value, self._clock.now(),
                callback_at=callback_at, note=note,
            )  # fmt: skip
            lead_id = None
            if written and disposition is Disposition.CALLBACK:
                assert campaign_id is not None and phone is not None  # _check made sure
                lead_id = await store.request_callback(
                    conn, campaign_id, phone, f"inbound call {call_id}: agent callback",
                    due=callback_at,
                )  # fmt: skip
        log.info("inbound.disposed", call_id=call_id, disposition=disposition.value,
                 source=source.value, written=written, callback_lead=lead_id)  # fmt: skip
        return written

    def _check(self, disposition: Disposition, caller: str, campaign_id: int | None) -> str | None:
        """Refuse what an inbound call cannot take; the caller's E.164 number for a CALLBACK."""
        if disposition not in INBOUND_DISPOSITIONS:
            raise DispositionRefused(
                f"an inbound call takes END or CALLBACK, not {disposition.value}"
            )
        if disposition is not Disposition.CALLBACK:
            return None
        if campaign_id is None:
            raise DispositionRefused(
                "CALLBACK: the call's DID route has no campaign to call back from"
                " (ccd inbound route add DID FLOW --campaign NAME)"
            )
        try:
            return normalize(caller, self._region).e164
        except InvalidNumber as exc:
            raise DispositionRefused(f"CALLBACK: the caller's number {caller!r}: {exc}") from None

    async def _contact(self, phone: str | None, campaign_id: int | None) -> Contact | None:
        if phone is None:
            return None  # withheld or garbled caller id: nobody to look up
        r = await store.contact_for(self._pool, phone, campaign_id)
        if r is None:
            return None
        return Contact(r["id"], r["campaign_id"], r["phone"], r["name"], r["fields"])


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("inbound.wrapup_failed", task=task.get_name(), error=repr(task.exception()))
