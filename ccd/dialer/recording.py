"""Recording agent calls: snoop-and-record on the customer's channel.

Why a snoop and not the agent's bridge (docs/asterisk.md, "Call recording"): Asterisk 22
keeps a bridge recording going for as long as the bridge lives, and the agent's bridge lives
for the whole shift. A bridge recording must be stopped when the customer leaves, and when
ccd is not there to stop it (a crash, a restart) it goes on into the agent's next calls. A
snoop on the customer's channel (spy=both: what the customer says and hears) ends with the
customer's channel, so Asterisk closes the file even when ccd is gone, and it records the
call the way the customer heard it: a barging supervisor (in the agent's bridge) is in it, a
whisper (injected towards the agent's phone only) is not.

Order of side effects: the row ('recording') is written before the snoop exists, so a
recording whose end ccd never saw is found and settled by `reconcile` (from the node's
stored file, like attempts are reconciled); then the snoop, then the record command, then
the notice to the customer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from ccd.dialer.agents import quietly
from ccd.dialer.clock import Clock
from ccd.domain.recording import RecordPolicy, audio_seconds
from ccd.log import get_logger
from ccd.store import recordings as store
from ccd.telephony.pbx import (
    AriNotFound,
    CallEnded,
    LinkStatus,
    Pbx,
    PbxError,
    PbxEvent,
    RecordingEnded,
    RecordingStarted,
)

log = get_logger(__name__)

SNOOP_PREFIX = "rec-"
CONFIRM_WITHIN_S = 2.0  # RecordingStarted comes at once; past this the notice plays anyway
# InstanceLock.owner_alive: is the process with this instance id alive?
OwnerCheck = Callable[[asyncpg.Pool, str | None], Awaitable[bool]]


class RecordingError(Exception):
    """A recording command that cannot be done; the message says why."""


@dataclass(eq=False)
class _Live:
    name: str
    call_id: str
    snoop_id: str
    node: str
    format: str
    paused: bool = False
    # Asterisk's word on the start: True on RecordingStarted, False on RecordingFailed.
    confirmed: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Recorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pbx: Pbx,
        clock: Clock,
        *,
        instance_id: str,
        owner_alive: OwnerCheck,
    ) -> None:
        self._pool = pool
        self._pbx = pbx
        self._clock = clock
        self._instance_id = instance_id
        self._owner_alive = owner_alive
        self._by_snoop: dict[str, _Live] = {}
        self._by_call: dict[str, _Live] = {}

    # --- queries ---

    def owns(self, call_id: str) -> bool:
        """The snoops recording calls (their events come here)."""
        return call_id in self._by_snoop

    def recording(self, call_id: str) -> tuple[str, bool] | None:
        """(name, paused) of a customer call's live recording; None when it is not recorded."""
        rec = self._by_call.get(call_id)
        return (rec.name, rec.paused) if rec else None

    # --- start ---

    async def start(
        self,
        call_id: str,
        policy: RecordPolicy,
        *,
        node: str,
        agent_id: int | None,
        campaign_id: int | None,
        attempt_id: str | None,
        caller: str | None = None,
    ) -> str | None:
        """Record the customer's call `call_id` if the policy samples it; returns the
        recording's name (= the call id), None when the call is not recorded. Raises nothing
        (but cancellation): a recording Asterisk cannot start is a 'failed' row, one whose
        row cannot be written is not started (logged); the call goes on either way."""
        if call_id in self._by_call:
            return self._by_call[call_id].name
        if not policy.records(call_id):
            return None
        name = call_id
        rec = _Live(name, call_id, SNOOP_PREFIX + call_id, node, policy.format)
        # Held before the row exists: reconciliation never takes it for a crashed one.
        self._by_call[call_id] = rec
        self._by_snoop[rec.snoop_id] = rec
        try:
            await store.started(
                self._pool,
                store.NewRecording(
                    name=name, call_id=call_id, node=node, instance=self._instance_id,
                    format=policy.format, started_at=self._clock.now(), attempt_id=attempt_id,
                    campaign_id=campaign_id, agent_id=agent_id, caller=caller,
                ),
            )  # fmt: skip
        except Exception as exc:
            self._forget(rec)
            log.error("recording.not_started", name=name, call_id=call_id, error=repr(exc))
            return None
        except BaseException:
            self._forget(rec)
            raise
        try:
            await self._pbx.snoop(call_id, rec.snoop_id, spy="both", whisper="none")
            await self._pbx.record_call(rec.snoop_id, name, fmt=policy.format)
        except PbxError as exc:
            log.warning("recording.start_failed", name=name, call_id=call_id, error=str(exc))
            await quietly(self._pbx.hangup(rec.snoop_id), "hangup", call_id=rec.snoop_id)
            await self._close(rec, "failed", note=f"could not start: {exc}")
            return None
        # Command, then confirm by event: the customer is told of a recording that runs.
        try:
            running = await asyncio.wait_for(asyncio.shield(rec.confirmed), CONFIRM_WITHIN_S)
        except TimeoutError:
            log.warning("recording.unconfirmed", name=name, within_s=CONFIRM_WITHIN_S)
            running = True
        if not running:
            return None
        log.info("recording.started", name=name, call_id=call_id, node=node,
                 format=policy.format)  # fmt: skip
        if policy.notice:
            try:
                await self._pbx.play(call_id, [policy.notice])
            except PbxError as exc:
                log.warning("recording.notice_failed", name=name, media=policy.notice,
                            error=str(exc))  # fmt: skip
        return name

    # --- pause ---

    async def pause(self, call_id: str, login: str, *, pause: bool) -> str:
        """Pause or resume the recording of a live call; returns its name. Raises
        RecordingError when the call is not being recorded."""
        rec = self._by_call.get(call_id)
        if rec is None:
            raise RecordingError("the call is not being recorded")
        if rec.paused == pause:
            return rec.name
        try:
            await self._pbx.pause_recording(rec.name, pause, node=rec.node)
        except PbxError as exc:
            raise RecordingError(f"Asterisk refused: {exc}") from exc
        rec.paused = pause
        await store.paused(self._pool, rec.name, login, self._clock.now(), pause=pause)
        log.info("recording.paused" if pause else "recording.resumed", name=rec.name,
                 by=login)  # fmt: skip
        return rec.name

    # --- the end ---

    async def on_pbx_event(self, event: PbxEvent) -> None:
        rec = self._by_snoop.get(event.call_id)
        if rec is None:
            return
        if isinstance(event, RecordingStarted):
            _settle_future(rec.confirmed, True)
        elif isinstance(event, RecordingEnded):
            _settle_future(rec.confirmed, event.ok)
            if event.ok:
                await self._settle(rec)
            else:
                await self._close(rec, "failed", note=f"Asterisk: {event.cause or 'failed'}")
                await quietly(self._pbx.hangup(rec.snoop_id), "hangup", call_id=rec.snoop_id)
        elif isinstance(event, CallEnded):
            # The snoop went with the customer; the file is closed once Asterisk says so.
            if not await self._still_recording(rec.name, rec.node):
                await self._settle(rec)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        """Nothing to do at once: `reconcile` (run after every reconnect) settles them."""

    async def _still_recording(self, name: str, node: str) -> bool:
        try:
            return await self._pbx.recording_live(name, node=node)
        except PbxError:
            return False

    async def _settle(self, rec: _Live) -> None:
        state, size, note = await self.measure(rec.name, rec.node, rec.format)
        await self._close(rec, state, size=size, note=note)

    async def measure(self, name: str, node: str, fmt: str) -> tuple[str, int | None, str | None]:
        """('done', size, None) from the node's stored file, ('failed', None, why) without."""
        try:
            async with self._pbx.stored_file(name, node=node) as f:
                size = f.size
                if size is None:
                    size = 0
                    async for chunk in f.chunks:
                        size += len(chunk)
        except AriNotFound:
            return "failed", None, "the node has no file for it"
        except PbxError as exc:
            return "failed", None, f"file not readable: {exc}"
        return "done", size, None

    async def _close(
        self, rec: _Live, state: str, *, size: int | None = None, note: str | None = None,
        reconciled: bool = False,
    ) -> None:  # fmt: skip
        self._forget(rec)
        duration = audio_seconds(rec.format, size) if size is not None else None
        await store.finished(
            self._pool, rec.name, state=state, ended_at=self._clock.now(), duration_s=duration,
            size_bytes=size, reconciled=reconciled, note=note,
        )  # fmt: skip
        log.info("recording.ended", name=rec.name, state=state, size=size, duration_s=duration,
                 note=note, reconciled=reconciled)  # fmt: skip

    def _forget(self, rec: _Live) -> None:
        _settle_future(rec.confirmed, False)  # a start still waiting learns it is over
        self._by_snoop.pop(rec.snoop_id, None)
        self._by_call.pop(rec.call_id, None)

    # --- reconciliation ---

    async def reconcile(self) -> int:
        """Settle recordings whose end no live process will see (ours not held here, or a dead
        process's): from the stored file once the node has stopped recording. Returns how
        many were settled."""
        status = self._pbx.link_status()
        settled = 0
        for row in await store.unfinished(self._pool):
            name, node = row["name"], row["node"]
            if name in self._by_call or status.get(node) is not LinkStatus.CONNECTED:
                continue
            if row["instance"] != self._instance_id and await self._owner_alive(
                self._pool, row["instance"]
            ):
                continue
            if await self._still_recording(name, node):
                continue
            rec = _Live(name, row["call_id"], SNOOP_PREFIX + row["call_id"], node, row["format"])
            state, size, note = await self.measure(name, node, rec.format)
            await self._close(rec, state, size=size, note=note, reconciled=True)
            settled += 1
        return settled


def _settle_future(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)
