"""SMS as a channel of mailings, over the SMSC links (SmsGateway).

A message goes out in parts; their outcomes make one `SendResult`: every part accepted is
SENT (the SMSC's ids kept as the provider id, `link:id` per part); a part sent without an
answer makes it UNKNOWN (never re-sent: the SMSC may have taken it); otherwise nothing or
only some of it went out: RETRY later when no part was taken and every refusal was a
passing one (no link bound, throttled past the retries), else FAILED. The parts' receipts
make one `StatusReport`: delivered when every part is, failed (the receipt state as reason)
when a part is undeliverable or rejected, expired when a part expired or had no final
receipt within the validity period.

The same channel sends the inbox's replies (`send_text`, ref `reply:<id>`; their receipts make
`StatusReport`s with the reply's id for the listener given to `set_replies`) and hands
customers' messages to the handler given to `set_inbound` (by default they are logged and
dropped). The handler returns once the message is stored: only then is the SMSC answered, so
a message the handler failed on, or that was in hand when the process died, comes again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ccd.log import get_logger
from ccd.messaging.channel import OutboundMessage, Outcome, SendResult, StatusListener, StatusReport
from ccd.messaging.sms import gateway as gw
from ccd.messaging.sms.encoding import EncodingError
from ccd.messaging.sms.mo import HeldPart, InboundSms
from ccd.messaging.sms.pdu import Status, status_name
from ccd.messaging.sms.receipts import (
    TEXT_OF_STATE,
    DeliveryState,
    PartKey,
    Receipt,
    message_state,
)
from ccd.messaging.sms.routes import candidates
from ccd.messaging.sms.settings import LinkSettings

log = get_logger(__name__)

InboundHandler = Callable[[InboundSms], Awaitable[None]]
PartHandler = Callable[[HeldPart], Awaitable[None]]

MAILING_REF = "mailing:"  # refs of mailing messages
REPLY_REF = "reply:"  # refs of the inbox's replies; other refs' receipts are only logged
# Refusals that say "not now" rather than "never": the message may go later.
_PASSING = frozenset(status_name(s) for s in (Status.THROTTLED, Status.MSGQFUL, Status.SYSERR))


def provider_id(parts: Sequence[gw.PartOutcome]) -> str | None:
    """`link:id` of every part the SMSC took, comma-separated, in part order."""
    ids = [f"{p.link}:{p.message_id}" for p in parts if p.message_id is not None]
    return ",".join(ids) or None


def parse_provider_id(value: str) -> list[tuple[str, str]]:
    """(link, SMSC message id) per part, from `provider_id`. Raises ValueError."""
    out = []
    for item in value.split(","):
        link, sep, message_id = item.partition(":")
        if not sep or not link or not message_id:
            raise ValueError(f"provider id {value!r}: expected link:id[,link:id...]")
        out.append((link, message_id))
    return out


def send_outcome(result: gw.SendResult, retry_after_s: float) -> SendResult:
    """What the parts' outcomes make of the message (see the module's docstring)."""
    parts = result.parts
    n = len(parts)
    pid = provider_id(parts)
    statuses = [p.status for p in parts]
    if all(s is gw.PartStatus.ACCEPTED for s in statuses):
        return SendResult(Outcome.SENT, provider_id=pid, parts=n)
    unknown = [p for p in parts if p.status is gw.PartStatus.UNKNOWN]
    if unknown:
        p = unknown[0]
        return SendResult(Outcome.UNKNOWN, provider_id=pid, parts=n,
                          reason=f"part {p.part}/{n}: no answer from {p.link}")  # fmt: skip
    bad = next(p for p in parts if p.status is not gw.PartStatus.ACCEPTED)
    why = f"part {bad.part}/{n}: {bad.status.value}" + (f" ({bad.error})" if bad.error else "")
    if gw.PartStatus.ACCEPTED in statuses:  # some of it went out: sending it again repeats that
        return SendResult(Outcome.FAILED, provider_id=pid, parts=n, reason=f"sent in part; {why}")
    passing = all(p.status is gw.PartStatus.NOT_SENT or p.error in _PASSING for p in parts)
    if passing:
        return SendResult(Outcome.RETRY, reason=why, retry_after_s=retry_after_s)
    return SendResult(Outcome.FAILED, reason=why, parts=n)


def report_state(state: DeliveryState) -> tuple[str, str | None]:
    """A message's final delivery state as the message table keeps it: (state, reason)."""
    if state is DeliveryState.DELIVERED:
        return "delivered", None
    if state is DeliveryState.EXPIRED:
        return "expired", "EXPIRED"
    return "failed", TEXT_OF_STATE[state]


async def _drop_inbound(sms: InboundSms) -> None:
    log.info("sms.mo.dropped", sender=sms.sender, recipient=sms.recipient, link=sms.link,
             parts=sms.parts, complete=sms.complete)  # fmt: skip


class SmsChannel:
    name = "sms"

    def __init__(
        self,
        links: Sequence[LinkSettings],
        *,
        validity: timedelta = timedelta(hours=24),
        retry_after_s: float = 60.0,
        **gateway_options: Any,
    ) -> None:
        self.gateway = gw.SmsGateway(links, on_receipt=self._receipt, on_inbound=self._inbound,
                                     on_part=self._part, validity=validity,
                                     **gateway_options)  # fmt: skip
        self._validity = validity
        self._retry_after_s = retry_after_s
        self._handler: InboundHandler = _drop_inbound
        self._hold: PartHandler | None = None
        self._on_status: StatusListener | None = None
        self._on_reply: StatusListener | None = None
        # ref -> part -> latest receipt state, for messages sent (or being sent) and not final
        self._parts: dict[str, dict[int, DeliveryState]] = {}
        self._reports: asyncio.Queue[tuple[StatusListener, StatusReport]] = asyncio.Queue()
        self._reporter: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    def set_inbound(self, handler: InboundHandler, *, hold: PartHandler | None = None) -> None:
        """Customers' messages go to `handler` (one task each) from now on; each is answered
        to the SMSC when its handler returns. A part of a long message not yet whole goes to
        `hold` and is answered when it returns (without one: at once, kept in memory only)."""
        self._handler = handler
        self._hold = hold

    def restore_parts(self, parts: Iterable[HeldPart]) -> None:
        """Parts `hold` kept before this process; call before start()."""
        self.gateway.restore_parts(parts)

    def set_replies(self, listener: StatusListener) -> None:
        """The final delivery state of each reply (`reply:<id>`) goes to `listener`, with the
        reply's id as the report's message_id."""
        self._on_reply = listener

    def link_states(self) -> dict[str, str]:
        return {name: link.state.value for name, link in self.gateway.links.items()}

    def binds(self) -> dict[str, int]:
        return {name: link.binds for name, link in self.gateway.links.items()}

    def resume(
        self, awaiting: Iterable[tuple[int, str, datetime]], *, prefix: str = MAILING_REF
    ) -> int:
        """Messages (id, provider id, sent at) sent before this process, mailing messages or
        (prefix REPLY_REF) replies: their receipts are matched when they come, and their parts
        expire at sent at + validity. Call before start(), so that receipts the SMSCs kept for
        the next bind find them."""
        resumed = 0
        for message_id, pid, sent_at in awaiting:
            try:
                parts = parse_provider_id(pid)
            except ValueError as exc:
                log.warning("sms.resume.bad_id", message_id=message_id, error=str(exc))
                continue
            ref = f"{prefix}{message_id}"
            self._parts[ref] = {}
            for n, (link, smsc_id) in enumerate(parts, start=1):
                self.gateway.expect(link, smsc_id, PartKey(ref, n, len(parts)),
                                    sent_at + self._validity)  # fmt: skip
            resumed += 1
        return resumed

    async def start(self, on_status: StatusListener) -> None:
        """The links bind (and rebind) on their own: a down SMSC does not hold this up."""
        self._on_status = on_status
        self._reporter = asyncio.create_task(self._report_loop(), name="sms-reports")
        self.gateway.start()

    async def send(self, message: OutboundMessage) -> SendResult:
        return await self.send_text(message.address, message.body,
                                    f"{MAILING_REF}{message.message_id}")  # fmt: skip

    async def send_text(self, to: str, text: str, ref: str) -> SendResult:
        """Send `text` to the E.164 number `to`; `ref` is the caller's id of the message (its
        receipts are reported under it). Replies to customers use this too."""
        if not candidates(to, self.gateway.settings):
            return SendResult(Outcome.FAILED, reason=f"no SMSC link serves {to}")
        self._parts[ref] = {}
        try:
            result = await self.gateway.send(to, text, ref)
        except EncodingError as exc:
            self._parts.pop(ref, None)
            return SendResult(Outcome.FAILED, reason=str(exc))
        except BaseException:  # the caller settles it (unknown); its receipts count for nothing
            self._parts.pop(ref, None)
            raise
        outcome = send_outcome(result, self._retry_after_s)
        if outcome.outcome is not Outcome.SENT:  # no report for a message not sent whole
            self._parts.pop(ref, None)
        log.info("sms.sent", ref=ref, outcome=outcome.outcome.value, parts=len(result.parts),
                 coding=result.coding, reason=outcome.reason)  # fmt: skip
        return outcome

    def _receipt(self, receipt: Receipt) -> None:
        states = self._parts.get(receipt.ref)
        if states is None:  # the message was not sent whole, or its report is out already
            log.info("sms.receipt.ignored", ref=receipt.ref, part=receipt.part,
                     state=receipt.state.value)  # fmt: skip
            return
        states[receipt.part] = receipt.state
        final = message_state(states.get(n) for n in range(1, receipt.parts + 1))
        if final is None:
            return
        del self._parts[receipt.ref]
        state, reason = report_state(final)
        listener, prefix = self._on_status, MAILING_REF
        if receipt.ref.startswith(REPLY_REF) and self._on_reply is not None:
            listener, prefix = self._on_reply, REPLY_REF
        elif not receipt.ref.startswith(MAILING_REF):
            log.info("sms.receipt.unclaimed", ref=receipt.ref, state=state, reason=reason)
            return
        assert listener is not None  # receipts come once start() has set _on_status
        message_id = int(receipt.ref.removeprefix(prefix))
        self._reports.put_nowait((listener, StatusReport(message_id, state, reason)))

    async def _report_loop(self) -> None:
        while True:
            listener, report = await self._reports.get()
            try:
                await listener(report)
            except Exception:  # noqa: BLE001 - one report's failure must not stop the others
                log.exception("sms.report_failed", message_id=report.message_id)
            finally:
                self._reports.task_done()

    def _inbound(self, sms: InboundSms) -> asyncio.Future[None]:
        return self._track(self._handler(sms), sms.sender, sms.link)

    def _part(self, part: HeldPart) -> asyncio.Future[None] | None:
        if self._hold is None:
            return None
        return self._track(self._hold(part), part.key[0], part.link)

    def _track(self, work: Awaitable[None], sender: str, link: str) -> asyncio.Task[None]:
        task = asyncio.create_task(self._handle(work, sender, link))
        self._handling.add(task)
        task.add_done_callback(self._handled)
        return task

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        if not task.cancelled():
            task.exception()  # logged in _handle; the link (if it waits for it) answers it

    async def _handle(self, work: Awaitable[None], sender: str, link: str) -> None:
        try:
            await work
        except Exception:  # the link answers with an error status: the SMSC delivers it again
            log.exception("sms.mo.handler_failed", sender=sender, link=link)
            raise

    async def close(self, drain_s: float = 5.0) -> None:
        """Unbind. Customers' messages in hand are stored first, so that their answers go out
        before the unbind (else the SMSC delivers them again: repeats, which the inbox absorbs);
        the reports in hand are finished after (drain_s at most for each)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await asyncio.gather(*self._handling, return_exceptions=True)
        await self.gateway.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_s):
                await self._reports.join()
                await asyncio.gather(*self._handling, return_exceptions=True)
        if self._reporter is not None:
            self._reporter.cancel()
            await asyncio.gather(self._reporter, return_exceptions=True)
