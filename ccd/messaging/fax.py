"""The fax channel: SendFAX() through Asterisk, over the trunks and routes of calls.

How a fax goes (and why):
1. The message's body is its document's path (the variant's fax template: a TIFF or a PDF;
   variables allowed, so each person may get their own). It becomes a TIFF in the spool
   directory Asterisk reads (fax_document).
2. A trunk with a free channel is taken from the dialer's own TrunkTable (longest route prefix
   first, channel caps shared with the campaigns, so faxes and calls never overrun a trunk
   together). None routes the number: FAILED; all full: RETRY soon.
3. The call is originated into ccd's ARI application, as campaign calls are, with the file
   and FAXOPT settings as channel variables; answered, it is continued into the `ccd-fax`
   context (dialplan/extensions_ccd.conf), which runs SendFAX(). Originating into the context
   directly would not subscribe the app to the channel, and ccd would hear nothing of it; an
   app-originated channel stays subscribed in the dialplan (as for AMD), so res_fax's FAXSTATUS,
   FAXERROR and FAXPAGES reach ccd as ChannelVarset before the call's end, even when the far end
   hangs up first (the usual end of a fax). Nothing has to come back into Stasis.
4. The end maps to the send's result (`result_of`): SUCCESS -> DELIVERED with its pages; a
   FAILED fax -> FAILED with FAXERROR; busy, no answer, congestion -> RETRY after the delays
   calls have, up to max_attempts sends; any other end -> FAILED; an end never seen -> UNKNOWN.

`send` returns when the call has ended (a fax takes a minute or more): the sender's
concurrency bounds the faxes one mailing has in flight, the trunks' caps bound them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ccd.config import FaxSettings
from ccd.dialer.trunks import NoRoute, Trunk, TrunkTable
from ccd.log import get_logger
from ccd.messaging.channel import OutboundMessage, Outcome, SendResult, StatusListener
from ccd.messaging.fax_document import DocumentError, FaxDocuments
from ccd.telephony.causes import Outcome as CallOutcome
from ccd.telephony.pbx import (
    CallAnswered,
    CallEnded,
    Pbx,
    PbxError,
    PbxEvent,
    PbxTimeout,
    PbxUnavailable,
)

log = get_logger(__name__)

CALL_PREFIX = "fax-"
END_GRACE_S = 15.0  # after our own hangup of an overlong call, for its end to arrive


@dataclass
class _FaxCall:
    call_id: str
    ended: asyncio.Future[CallEnded] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def result_of(ended: CallEnded, attempt: int, cfg: FaxSettings) -> SendResult:
    """A fax call's end -> what became of the message."""
    fax = ended.fax
    if fax is not None:
        if fax.status == "SUCCESS":
            return SendResult(Outcome.DELIVERED, provider_id=ended.call_id, pages=fax.pages)
        why = fax.error or fax.status
        if fax.detail and fax.detail != why:
            why += f" ({fax.detail})"
        pages = fax.pages or 0
        return SendResult(
            Outcome.FAILED, provider_id=ended.call_id, pages=pages,
            reason=f"fax failed: {why}; {pages} page{'s' if pages != 1 else ''} sent",
        )  # fmt: skip
    if ended.lost:
        # The event link dropped: the fax may have gone, so it is never sent again.
        return SendResult(
            Outcome.UNKNOWN, provider_id=ended.call_id, reason="the fax call's end was not seen"
        )
    cause = f"cause {ended.cause} {ended.cause_txt}" if ended.cause_txt else f"cause {ended.cause}"
    if ended.answered:
        return SendResult(
            Outcome.FAILED, provider_id=ended.call_id,
            reason=f"answered, but no fax was sent ({cause})",
        )  # fmt: skip
    delays = {
        CallOutcome.BUSY: cfg.retry_busy_s,
        CallOutcome.NO_ANSWER: cfg.retry_no_answer_s,
        CallOutcome.REJECTED: cfg.retry_no_answer_s,
        CallOutcome.CONGESTION: cfg.retry_congestion_s,
        CallOutcome.FAILED: cfg.retry_congestion_s,
    }
    what = ended.outcome.value.lower().replace("_", " ")
    delay = delays.get(ended.outcome)
    if delay is None:  # a bad number: trying again would not help
        return SendResult(Outcome.FAILED, provider_id=ended.call_id, reason=f"{what} ({cause})")
    if attempt >= cfg.max_attempts:
        return SendResult(
            Outcome.FAILED, provider_id=ended.call_id,
            reason=f"{what} ({cause}); gave up after {attempt} attempts",
        )  # fmt: skip
    return SendResult(
        Outcome.RETRY, provider_id=ended.call_id, retry_after_s=delay, reason=f"{what} ({cause})"
    )


class FaxChannel:
    name = "fax"

    def __init__(
        self,
        cfg: FaxSettings,
        pbx: Pbx,
        trunks: TrunkTable,
        pool: asyncpg.Pool,
        *,
        documents: FaxDocuments | None = None,
    ) -> None:
        self.cfg = cfg
        self._pbx = pbx
        self._trunks = trunks
        self._pool = pool
        self._documents = documents or FaxDocuments(cfg.spool_dir)
        self._calls: dict[str, _FaxCall] = {}

    # --- the engine routes the events of our calls here (EngineRouter.add_handler) ---

    def owns(self, call_id: str) -> bool:
        return call_id in self._calls

    async def on_pbx_event(self, event: PbxEvent) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            return
        if isinstance(event, CallAnswered):
            try:
                await self._pbx.continue_in_dialplan(
                    call.call_id, context=self.cfg.context, extension="s", priority=1
                )
            except PbxError as exc:  # gone already (its end follows), or refused: hang up
                log.warning("fax.continue_failed", call_id=call.call_id, error=str(exc))
                await self._hangup(call.call_id)
        elif isinstance(event, CallEnded) and not call.ended.done():
            call.ended.set_result(event)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        """Nothing to do: the Pbx ends the calls that vanished (CallEnded.lost)."""

    # --- Channel ---

    async def start(self, on_status: StatusListener) -> None:
        """A fax's result is known when its call ends: no later reports."""
        await asyncio.to_thread(self._documents.setup)

    async def send(self, message: OutboundMessage) -> SendResult:
        source = Path(message.body.strip())
        if ".." in source.parts:  # a contact's field must not lead out of the template's folder
            return SendResult(Outcome.FAILED, reason=f"document {source}: '..' in the path")
        try:
            document = await self._documents.prepare(source)
        except DocumentError as exc:
            return SendResult(Outcome.FAILED, reason=str(exc))
        number = message.address
        self._trunks.reload_from(await TrunkTable.load(self._pool))
        try:
            trunk = self._trunks.acquire(number)
        except NoRoute:
            if not self._trunks.serves(number):
                return SendResult(
                    Outcome.FAILED, reason=f"no route for {number} (see `ccd route list`)"
                )
            return SendResult(
                Outcome.RETRY, retry_after_s=self.cfg.retry_congestion_s,
                reason="no free trunk channel",
            )  # fmt: skip
        try:
            return await self._call(message, trunk, document)
        finally:
            self._trunks.release(trunk.id)

    async def _call(self, message: OutboundMessage, trunk: Trunk, document: Path) -> SendResult:
        call = _FaxCall(f"{CALL_PREFIX}{message.message_id}-{secrets.token_hex(3)}")
        self._calls[call.call_id] = call  # before the originate: its events may come first
        try:
            try:
                await self._pbx.originate(
                    call.call_id, trunk.endpoint(message.address),
                    caller_id=self.cfg.caller_id, timeout_s=self.cfg.dial_timeout,
                    variables={
                        "CCD_FAX_FILE": str(document),
                        "CCD_FAX_STATION": self.cfg.station_id,
                        "CCD_FAX_HEADER": self.cfg.header,
                    },
                    node=trunk.node,
                )  # fmt: skip
            except PbxTimeout:
                log.warning("fax.originate_timeout", call_id=call.call_id)  # it may be up
            except PbxUnavailable as exc:
                return SendResult(
                    Outcome.RETRY, retry_after_s=self.cfg.retry_congestion_s, reason=str(exc)
                )
            except PbxError as exc:
                return SendResult(Outcome.FAILED, reason=f"originate refused: {exc}")
            log.info("fax.dialing", message_id=message.message_id, call_id=call.call_id,
                     trunk=trunk.name, document=str(document), attempt=message.attempt)  # fmt: skip
            ended = await self._wait_end(call)
        finally:
            self._calls.pop(call.call_id, None)
        if ended is None:
            return SendResult(
                Outcome.UNKNOWN, provider_id=call.call_id,
                reason="the fax call's end was not seen",
            )  # fmt: skip
        result = result_of(ended, message.attempt, self.cfg)
        log.info("fax.ended", message_id=message.message_id, call_id=call.call_id,
                 outcome=result.outcome.value, pages=result.pages,
                 reason=result.reason)  # fmt: skip
        return result

    async def _wait_end(self, call: _FaxCall) -> CallEnded | None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.cfg.dial_timeout + self.cfg.max_call_s):
                return await asyncio.shield(call.ended)
        log.warning("fax.call_too_long", call_id=call.call_id)
        await self._hangup(call.call_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(END_GRACE_S):
                return await asyncio.shield(call.ended)
        return None

    async def _hangup(self, call_id: str) -> None:
        try:
            await self._pbx.hangup(call_id)
        except PbxError as exc:
            log.warning("fax.hangup_failed", call_id=call_id, error=str(exc))

    async def close(self) -> None:
        """Faxes in flight finish: the sender waits for their sends before closing."""
