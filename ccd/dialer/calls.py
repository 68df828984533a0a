"""Per-attempt call handling: originate, answer -> (AMD) -> agent bridge or drop, end, disposition.

The order of side effects is fixed: the attempt row exists (claimed) before the originate,
the call is registered here before the originate (its events may beat the HTTP answer), and
state changes follow Asterisk's events (command, then confirm by event).

An answered call gets the agent reserved for it (POWER/MANUAL) or the longest-idle READY
agent, waiting at most DROP_AFTER_S from the answer; otherwise the campaign's safe-harbor
message plays (a stock fallback when it fails), the call is hung up and the attempt is DROPPED.

Disposition of a call an agent talked on: the agent sets it in WRAP_UP; if they have not
after `wrapup_timeout_s`, the attempt gets END automatically (the contact was made) and the
agent goes READY. An agent's later disposition still replaces that automatic END. A talked call
Asterisk cut (restart, crash) ends LOST but keeps its answer, bridge and agent and still owes
its disposition: it is never retried like a call that failed.

The end of a call moves its agent in memory at once; the attempt's end (and a wrap-up's
disposition) is then written, retried until PostgreSQL answers (persist.py), so a database
restart at that moment neither strands the agent nor loses the end.

A fax tone (reported ~0.9 s after it starts) may come after the bridge: the call is hung up
then, the attempt is FAX and the agent is READY at once. No detection window delays the
bridge: every person answering would wait as long (README, "Fax detection and agents").
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from ccd.dialer.agents import AgentError, AgentService, bridge_id_for, quietly
from ccd.dialer.campaign import CampaignConfig
from ccd.dialer.clock import Clock
from ccd.dialer.notify import EngineNotifier, NullNotifier
from ccd.dialer.persist import until_written, write_then
from ccd.dialer.recording import Recorder
from ccd.dialer.trunks import TrunkTable
from ccd.domain.agents import AgentState
from ccd.domain.campaigns import SAFE_HARBOR_FALLBACK_MEDIA
from ccd.domain.dispositions import Disposition, DispositionSource, apply_disposition
from ccd.domain.outcomes import WRAPUP_TIMEOUT_DISPOSITION, auto_disposition
from ccd.log import get_logger
from ccd.pacing.base import DROP_AFTER_S
from ccd.store import attempts as attempt_store
from ccd.store.claim import ClaimedLead
from ccd.telephony.pbx import (
    AmdResult,
    CallAnswered,
    CallBridged,
    CallEnded,
    CallRinging,
    Pbx,
    PbxError,
    PbxEvent,
    PbxTimeout,
    PbxUnavailable,
    PlaybackFinished,
    ToneDetected,
)

log = get_logger(__name__)

# Channel variable naming the ccd process that placed a call (see reconcile.py).
INSTANCE_VAR = "CCD_INSTANCE"
AMD_WAIT_S = 6.0  # AMD() decides in ~2 s (transcript 14); past this the call counts as human
SAFE_HARBOR_MAX_S = 15.0


class CallListener(Protocol):
    """What a campaign runner learns from its calls (pacer feedback, free lines)."""

    def on_ring(self, ring_s: float, answered: bool) -> None: ...

    def on_answer(self, dropped: bool) -> None: ...

    def on_call(self, talk_s: float, wrap_s: float) -> None: ...

    def on_call_gone(self, call: LiveAttempt) -> None: ...


@dataclass(eq=False)
class LiveAttempt:
    attempt_id: str
    campaign: CampaignConfig
    lead: ClaimedLead
    trunk_id: int | None
    listener: CallListener
    reserved_agent: int | None = None  # POWER/MANUAL: the agent reserved before dialing
    node: str | None = None
    started: float = field(default_factory=time.monotonic)
    ringing_since: float | None = None
    answered_at: datetime | None = None
    answered_mono: float | None = None
    agent_id: int | None = None  # the agent the call is (being) connected to
    bridged_mono: float | None = None
    bridged_at: datetime | None = None
    ended_mono: float | None = None
    verdict: str | None = None  # DROPPED / MACHINE / FAX decided by us, over Asterisk's outcome
    amd_status: str | None = None
    amd_cause: str | None = None
    tone: str | None = None
    amd_done: asyncio.Event = field(default_factory=asyncio.Event)
    bridged: asyncio.Event = field(default_factory=asyncio.Event)
    playback_done: asyncio.Event = field(default_factory=asyncio.Event)
    playback_ok: bool = False  # how the last playback finished (False: failed)
    ended: bool = False
    end_written: asyncio.Event = field(default_factory=asyncio.Event)


class CallManager:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pbx: Pbx,
        agents: AgentService,
        trunks: TrunkTable,
        clock: Clock,
        *,
        instance_id: str = "",
        wrapup_timeout_s: float = 120.0,
        drop_after_s: float = DROP_AFTER_S,
        notifier: EngineNotifier | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self._pool = pool
        self._recorder = recorder
        self.notifier: EngineNotifier = notifier or NullNotifier()
        self._instance_id = instance_id
        self._pbx = pbx
        self._agents = agents
        self._trunks = trunks
        self._clock = clock
        self._wrapup_timeout_s = wrapup_timeout_s
        self._drop_after_s = drop_after_s
        self._live: dict[str, LiveAttempt] = {}
        self._ending: dict[str, LiveAttempt] = {}  # ended, the end not yet written
        self._wrapups: dict[str, tuple[LiveAttempt, asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        # answer -> confirmed in the agent's bridge, seconds: the latest calls only
        self.bridge_latencies: deque[float] = deque(maxlen=100_000)

    # --- queries ---

    def owns(self, call_id: str) -> bool:
        return call_id in self._live

    def holds(self, attempt_id: str) -> bool:
        """Live, or ended with its end still on the way to the database."""
        return attempt_id in self._live or attempt_id in self._ending

    def find(self, attempt_id: str) -> LiveAttempt | None:
        """A call in progress or in its agent's wrap-up."""
        entry = self._wrapups.get(attempt_id)
        return entry[0] if entry else self._live.get(attempt_id)

    def owns_wrapup(self, attempt_id: str) -> bool:
        return attempt_id in self._wrapups

    def live(self) -> list[LiveAttempt]:
        return list(self._live.values())

    def live_for(self, campaign_id: int) -> list[LiveAttempt]:
        return [c for c in self._live.values() if c.campaign.id == campaign_id]

    def wrapping_for(self, campaign_id: int) -> list[LiveAttempt]:
        return [c for c, _ in self._wrapups.values() if c.campaign.id == campaign_id]

    # --- placing calls ---

    def pbx_up(self) -> bool:
        """At least one Asterisk node is connected (no point dialing otherwise)."""
        return bool(self.connected_nodes())

    def connected_nodes(self) -> list[str]:
        return [n for n, s in self._pbx.link_status().items() if s == "CONNECTED"]

    async def place(self, call: LiveAttempt, endpoint: str) -> bool:
        """Originate one claimed attempt, on call.node when set (else the Pbx picks); False
        when it was certainly not sent (no node up): then the caller gives the lead back. A
        failure Asterisk reported ends the attempt."""
        self._live[call.attempt_id] = call
        self._idle.clear()
        c = call.campaign
        try:
            call.node = await self._pbx.originate(
                call.attempt_id,
                endpoint,
                node=call.node,
                caller_id=c.caller_id,
                timeout_s=c.dial_timeout_s,
                variables={
                    "CCD_ATTEMPT": call.attempt_id,
                    "CCD_CAMPAIGN": str(c.id),
                    INSTANCE_VAR: self._instance_id,
                },
                amd=c.amd,
                tone_detect=c.fax_detect,
            )
            self.notifier.call_originated(call)
            return True
        except PbxTimeout:
            # It may have gone out: its events (or the reconnect's lost report) will end it.
            log.warning("attempt.originate_timeout", attempt_id=call.attempt_id)
            return True
        except PbxUnavailable as exc:
            # Certainly not sent: the caller gives the lead back, no attempt is counted.
            log.warning("attempt.not_sent", attempt_id=call.attempt_id, error=str(exc))
            self._forget(call)
            return False
        except PbxError as exc:
            log.warning("attempt.originate_failed", attempt_id=call.attempt_id, error=str(exc))
            await self._end(call, outcome="FAILED", event=None)
            return True

    # --- events (one call's events arrive in order, one at a time) ---

    async def on_event(self, event: PbxEvent) -> None:
        call = self._live.get(event.call_id)
        if call is None:
            return
        if isinstance(event, CallRinging):
            call.ringing_since = call.ringing_since or time.monotonic()
        elif isinstance(event, CallAnswered):
            await self._answered(call, event)
        elif isinstance(event, AmdResult):
            call.amd_status, call.amd_cause = event.status, event.cause
            call.amd_done.set()
        elif isinstance(event, ToneDetected):
            await self._tone(call, event)
        elif isinstance(event, CallBridged):
            await self._bridged(call, event)
        elif isinstance(event, PlaybackFinished):
            call.playback_ok = event.ok
            call.playback_done.set()
        elif isinstance(event, CallEnded):
            await self._end(call, outcome=None, event=event)

    async def on_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        """Calls Asterisk no longer has were lost with the link (the Pbx also reports them)."""
        for call in list(self._live.values()):
            if call.node == node and call.attempt_id not in live_call_ids:
                await self._end(call, outcome="LOST", event=None)

    async def settle_missing(self, live_call_ids: frozenset[str], older_than_s: float) -> int:
        """Calls we hold that Asterisk does not have, placed over older_than_s ago (e.g. an
        originate that timed out and never arrived): ended as LOST. Returns how many."""
        now = time.monotonic()
        missing = [
            c for c in self._live.values()
            if c.attempt_id not in live_call_ids and now - c.started > older_than_s
        ]  # fmt: skip
        for call in missing:
            await self._end(call, outcome="LOST", event=None)
        return len(missing)

    async def _answered(self, call: LiveAttempt, event: CallAnswered) -> None:
        call.node = event.node
        call.answered_at = event.at
        call.answered_mono = time.monotonic()
        ring_from = call.ringing_since or call.started
        call.listener.on_ring(call.answered_mono - ring_from, True)
        self.notifier.call_answered(call)
        # The agent hunt runs beside the event stream so a hangup meanwhile is seen at once.
        self._spawn(self._connect(call))

    async def _connect(self, call: LiveAttempt) -> None:
        assert call.answered_mono is not None
        if call.campaign.amd:
            try:
                await asyncio.wait_for(call.amd_done.wait(), AMD_WAIT_S)
            except TimeoutError:
                log.warning("attempt.amd_timeout", attempt_id=call.attempt_id)
            if call.ended:
                return
            if call.amd_status == "MACHINE":
                call.verdict = "MACHINE"
                await quietly(self._pbx.hangup(call.attempt_id), "hangup", call_id=call.attempt_id)
                return
            # The 2 s to reach an agent count from when we know it is a person.
            call.answered_mono = time.monotonic()
        if call.verdict is not None or call.ended:
            return
        agent_id = call.reserved_agent
        if agent_id is None:
            left = self._drop_after_s - (time.monotonic() - call.answered_mono)
            session = await self._agents.reserve_longest_idle(
                call.campaign.id, call.attempt_id, wait_s=max(0.0, left), node=call.node
            )
            agent_id = session.agent_id if session else None
        if agent_id is None or call.ended:
            if agent_id is not None:
                await self._agents.release(agent_id, call.attempt_id)
            if not call.ended:
                await self._drop(call)
            return
        call.agent_id = agent_id
        try:
            await self._agents.connect(agent_id, call.attempt_id)
        except (AgentError, PbxError) as exc:
            log.warning("attempt.connect_failed", attempt_id=call.attempt_id, error=str(exc))
            await self._agents.release(agent_id, call.attempt_id)
            call.agent_id = None
            if not call.ended:
                await self._drop(call)

    async def _drop(self, call: LiveAttempt) -> None:
        """No agent in time: safe-harbor message, hang up, count the abandon."""
        call.verdict = "DROPPED"
        call.listener.on_answer(True)
        self.notifier.call_dropped(call)
        log.info("attempt.dropped", attempt_id=call.attempt_id, campaign_id=call.campaign.id)
        media = call.campaign.safe_harbor_media
        if not await self._play_safe_harbor(call, media) and media != SAFE_HARBOR_FALLBACK_MEDIA:
            log.warning(
                "attempt.safe_harbor_fallback", attempt_id=call.attempt_id, media=media,
                fallback=SAFE_HARBOR_FALLBACK_MEDIA,
            )  # fmt: skip
            await self._play_safe_harbor(call, SAFE_HARBOR_FALLBACK_MEDIA)
        await quietly(self._pbx.hangup(call.attempt_id), "hangup", call_id=call.attempt_id)

    async def _play_safe_harbor(self, call: LiveAttempt, media: str) -> bool:
        """Play one message to its end; False when it failed (a file the node lacks ends at
        once with state "failed"). A call that ended meanwhile counts as played: nothing to
        fall back to."""
        if call.ended:
            return True
        call.playback_done.clear()  # before the play: its events may beat the response
        call.playback_ok = False
        try:
            await self._pbx.play(call.attempt_id, [media])
            await asyncio.wait_for(call.playback_done.wait(), SAFE_HARBOR_MAX_S)
        except (PbxError, TimeoutError) as exc:
            log.warning(
                "attempt.safe_harbor_failed", attempt_id=call.attempt_id, media=media,
                error=str(exc) or type(exc).__name__,
            )  # fmt: skip
            return True  # not a missing file: a second message would fare no better
        return call.playback_ok or call.ended

    async def _tone(self, call: LiveAttempt, event: ToneDetected) -> None:
        call.tone = event.tone
        if event.tone == "fax" and call.verdict is None:
            call.verdict = "FAX"
            await quietly(self._pbx.hangup(call.attempt_id), "hangup", call_id=call.attempt_id)

    async def _bridged(self, call: LiveAttempt, event: CallBridged) -> None:
        if call.agent_id is None or call.bridged_mono is not None:
            return
        if event.bridge_id != bridge_id_for(call.agent_id):
            return
        call.bridged_mono = time.monotonic()
        call.bridged_at = event.at
        call.bridged.set()
        if call.answered_mono is not None:
            self.bridge_latencies.append(call.bridged_mono - call.answered_mono)
        await self._agents.bridged(call.agent_id, call.attempt_id)
        call.listener.on_answer(False)
        await attempt_store.mark_bridged(
            self._pool, call.attempt_id, call.agent_id, event.at, call.answered_at
        )
        self.notifier.call_bridged(call)
        if self._recorder is not None and call.campaign.record.pct and call.node is not None:
            # Beside the event stream: a hangup meanwhile is handled at once (the recording
            # then fails to start, which its row says).
            self._spawn(self._record(self._recorder, call, call.node, call.agent_id))

    async def _record(self, recorder: Recorder, call: LiveAttempt, node: str, agent: int) -> None:
        await recorder.start(
            call.attempt_id, call.campaign.record, node=node, agent_id=agent,
            campaign_id=call.campaign.id, attempt_id=call.attempt_id, caller=call.lead.phone,
        )  # fmt: skip

    # --- the end of a call ---

    async def _end(
        self, call: LiveAttempt, *, outcome: str | None, event: CallEnded | None
    ) -> None:
        if call.ended:
            return
        self._forget(call)
        call.ended_mono = time.monotonic()
        # The agent hunt is never cancelled (it may hold a reservation half-written); it is
        # woken and sees the call ended.
        self._agents.cancel_wait(call.attempt_id)
        call.amd_done.set()
        call.playback_done.set()
        if event is not None and event.lost:
            outcome = "LOST"
        if outcome is None:
            assert event is not None
            outcome = call.verdict or ("LOST" if event.shutdown else event.outcome.value)
        if call.answered_mono is None and outcome != "LOST":
            call.listener.on_ring(call.ended_mono - (call.ringing_since or call.started), False)
        bridged = call.bridged_mono is not None
        if call.reserved_agent is not None and not bridged:
            await self._agents.release(call.reserved_agent, call.attempt_id)
        elif call.agent_id is not None and not bridged:
            await self._agents.release(call.agent_id, call.attempt_id)
        session = self._agents.session(call.agent_id) if call.agent_id is not None else None
        talked = bridged and call.verdict is None
        in_wrapup = (
            talked
            and session is not None
            and session.state is AgentState.TALKING
            and session.attempt_id == call.attempt_id
        )
        now = self._clock.now()
        facts = attempt_store.EndFacts(
            at=event.at if event is not None else now,
            outcome=outcome,
            node=call.node,
            cause=event.cause if event else None,
            cause_txt=event.cause_txt if event else None,
            sip_code=event.sip_code if event else None,
            dial_status=event.dial_status if event else None,
            amd_status=call.amd_status,
            amd_cause=call.amd_cause,
            tone=call.tone,
            answered_at=call.answered_at,
            agent_id=call.agent_id if bridged else None,
            bridged_at=call.bridged_at,
        )
        # A talked call cut by Asterisk owes its disposition even when its agent's leg went
        # first: the agent gives it once called back, else the reconciler's grace ends it.
        owes = in_wrapup or (talked and outcome == "LOST")
        dispo = None if owes else self._auto(call, outcome, bridged, now)
        if in_wrapup:
            # Registered before the write: the agent may disposition at once.
            self._wrapups[call.attempt_id] = (call, self._spawn(self._wrapup_timer(call)))

        async def agent_moves_on() -> None:
            if bridged and call.agent_id is not None:
                await self._agents.call_ended(call.agent_id, call.attempt_id)
                if not in_wrapup:
                    await self._agents.dispose(call.agent_id, call.attempt_id)

        self._ending[call.attempt_id] = call
        try:
            await write_then(
                lambda: attempt_store.finish(self._pool, call.attempt_id, facts, dispo),
                agent_moves_on, "attempt.end", attempt_id=call.attempt_id,
            )  # fmt: skip
        finally:
            self._ending.pop(call.attempt_id, None)
        call.end_written.set()
        log.info(
            "attempt.ended", attempt_id=call.attempt_id, outcome=outcome,
            disposition=dispo.disposition.value if dispo else None, cause=facts.cause,
        )  # fmt: skip
        self.notifier.call_ended(call, outcome)
        call.listener.on_call_gone(call)

    def _forget(self, call: LiveAttempt) -> None:
        call.ended = True
        self._live.pop(call.attempt_id, None)
        if not self._live:
            self._idle.set()
        self._trunks.release(call.trunk_id)

    def _auto(
        self, call: LiveAttempt, outcome: str, bridged: bool, now: datetime
    ) -> attempt_store.DispositionWrite:
        disposition = auto_disposition(outcome, bridged=bridged) or WRAPUP_TIMEOUT_DISPOSITION
        lead = apply_disposition(
            disposition,
            now=now,
            attempts_made=call.lead.attempts,
            max_attempts=call.campaign.max_attempts,
            rules=call.campaign.retry_rules,
        )
        return attempt_store.DispositionWrite(disposition, DispositionSource.AUTO, lead)

    # --- wrap-up and agent dispositions ---

    async def _wrapup_timer(self, call: LiveAttempt) -> None:
        await asyncio.sleep(self._wrapup_timeout_s)
        log.info("attempt.wrapup_timeout", attempt_id=call.attempt_id, agent_id=call.agent_id)
        await self._finish_wrapup(call, WRAPUP_TIMEOUT_DISPOSITION, DispositionSource.AUTO)

    async def agent_disposition(
        self,
        agent_id: int,
        disposition: Disposition,
        *,
        callback_at: datetime | None = None,
        note: str | None = None,
    ) -> str:
        """The agent's disposition of the call they just finished; returns its attempt id.

        Raises AgentError when the agent has no finished call to disposition.
        """
        session = self._agents.session(agent_id)
        if session is not None and session.state in (AgentState.RESERVED, AgentState.TALKING):
            raise AgentError(f"agent {agent_id} is still on the call; disposition it after")
        attempt_id: str | None = session.attempt_id if session is not None else None
        entry = self._wrapups.get(attempt_id or "")
        if entry is None:
            # The agent's last call, if it was an outbound one: an inbound call answered since
            # is the one a disposition is for (ccd.inbound.agent_calls), never this attempt.
            attempt_id = await self._pool.fetchval(
                """
                SELECT a.id::text FROM attempts a
                WHERE a.agent_id = $1 AND a.ended_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM inbound_calls i
                                  WHERE i.agent_id = $1 AND i.answered_at >= a.ended_at)
                ORDER BY a.ended_at DESC LIMIT 1
                """,
                agent_id,
            )
            if attempt_id is None:
                raise AgentError(f"agent {agent_id} has no finished call to disposition")
            ok = await attempt_store.dispose(
                self._pool, attempt_id, disposition, DispositionSource.AGENT, self._clock.now(),
                callback_at=callback_at, note=note,
            )  # fmt: skip
            if not ok:
                raise AgentError(f"call {attempt_id} already has an agent disposition")
            return attempt_id
        call, timer = entry
        timer.cancel()
        await self._finish_wrapup(
            call, disposition, DispositionSource.AGENT, callback_at=callback_at, note=note
        )
        return call.attempt_id

    async def _finish_wrapup(
        self,
        call: LiveAttempt,
        disposition: Disposition,
        source: DispositionSource,
        *,
        callback_at: datetime | None = None,
        note: str | None = None,
    ) -> None:
        if self._wrapups.pop(call.attempt_id, None) is None:
            return
        agent_id = call.agent_id
        assert agent_id is not None
        at = self._clock.now()

        async def write() -> bool:
            return await attempt_store.dispose(
                self._pool, call.attempt_id, disposition, source, at,
                callback_at=callback_at, note=note,
            )  # fmt: skip

        async def agent_moves_on() -> None:
            await self._agents.dispose(agent_id, call.attempt_id)

        if not call.end_written.is_set():  # the call's end waits for the database; the agent not
            await agent_moves_on()
            await call.end_written.wait()
            await until_written(write, "attempt.disposition", attempt_id=call.attempt_id)
        else:
            try:
                await write_then(write, agent_moves_on, "attempt.disposition",
                                 attempt_id=call.attempt_id)  # fmt: skip
            except Exception as exc:
                log.error(
                    "attempt.disposition_failed", attempt_id=call.attempt_id,
                    agent_id=agent_id, disposition=disposition.value, error=repr(exc),
                )  # fmt: skip
                # Even when the write failed the agent is done with the call: never hold them
                # in WRAP_UP (the attempt keeps owing its disposition; reconciliation settles it).
                await agent_moves_on()
                raise
        if call.bridged_mono is not None and call.ended_mono is not None:
            now = time.monotonic()
            call.listener.on_call(call.ended_mono - call.bridged_mono, now - call.ended_mono)

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no call is live; False when some still are after timeout_s."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Shutdown: give owed dispositions the automatic END now, stop background tasks."""
        for call, timer in list(self._wrapups.values()):
            timer.cancel()
            await self._finish_wrapup(call, WRAPUP_TIMEOUT_DISPOSITION, DispositionSource.AUTO)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call.task_failed", error=repr(task.exception()))
