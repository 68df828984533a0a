"""The SMS adapter's face: send a text to a number, hear receipts and inbound messages.

Nothing outside ccd/messaging/sms/ knows SMPP: callers give (number, text, their reference) and get
per-part outcomes; receipts come back as `Receipt` (their reference, part, state, time) and
customers' messages as `InboundSms`, through the callbacks given at construction.
A customer's message is answered to the SMSC when the future `on_inbound` returns is done
(stored; see mo.py for long ones), so one not stored is delivered again. A receipt is answered
at once: it settles a state in memory, written by the receipt's listener soon after; a crash
in between costs that state (the message stays `sent`, or `expired` after the validity period
when it was resumed).

Why our own PDU codec (pdu.py) and not aiosmpplib: aiosmpplib (0.7) is an asyncio ESME
with segmentation and throttling, but its rate limiter is a token bucket that lets up to
twice the rate through in one second (a full bucket plus its refill), it has no window (its
sender writes whatever its broker yields, with no bound on submit_sm awaiting their resp,
which SMSCs answer with ESME_RTHROTTLED or a dropped bind), it owns the queueing and correlation
through its own broker/correlator abstractions that would sit beside our PostgreSQL, and it
logs through its own logger rather than structlog. Our SMSC double needs the server half of
the codec anyway, which aiosmpplib does not have. The part of SMPP ccd speaks (bind,
submit_sm, deliver_sm, enquire_link, unbind, generic_nack, six TLVs) is under 300 lines on
`struct`, shared by the client and the double and tested against both.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ccd.log import get_logger
from ccd.messaging.sms.encoding import EncodingError, plan
from ccd.messaging.sms.link import LinkDown, SmppLink, SubmitRejected, SubmitUnknown
from ccd.messaging.sms.mo import HeldPart, InboundSms, Reassembler, Stored
from ccd.messaging.sms.pdu import ESM_RECEIPT, ESM_TYPE_MASK, ESM_UDHI, ShortMessage, status_name
from ccd.messaging.sms.receipts import PartKey, Receipt, ReceiptTracker, read_receipt
from ccd.messaging.sms.routes import candidates
from ccd.messaging.sms.settings import LinkSettings

log = get_logger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PartStatus(StrEnum):
    ACCEPTED = "accepted"  # the SMSC took it: a receipt will follow
    REJECTED = "rejected"  # the SMSC refused it: not sent
    UNKNOWN = "unknown"  # sent, no answer: must not be re-sent
    NOT_SENT = "not_sent"  # no link to carry it was bound: nothing left ccd


@dataclass(frozen=True)
class PartOutcome:
    part: int
    status: PartStatus
    link: str | None = None
    message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SendResult:
    ref: str
    coding: str
    parts: tuple[PartOutcome, ...]


def relative_validity(period: timedelta) -> str:
    """SMPP relative time "YYMMDDhhmmss000R" (years and months left at zero)."""
    total = int(period.total_seconds())
    days, rest = divmod(total, 86400)
    if total <= 0 or days > 99:
        raise ValueError(f"validity {period}: expected more than 0 s and at most 99 days")
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"0000{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"


class SmsGateway:
    def __init__(
        self,
        links: Sequence[LinkSettings],
        *,
        on_receipt: Callable[[Receipt], None],
        on_inbound: Callable[[InboundSms], Stored],
        on_part: Callable[[HeldPart], Stored] | None = None,
        validity: timedelta = timedelta(hours=24),
        mo_timeout: timedelta = timedelta(minutes=5),
        receipt_hold: timedelta = timedelta(minutes=10),
        sweep_every: float = 1.0,
        clock: Clock = _utcnow,
    ) -> None:
        if not links:
            raise ValueError("links: at least one SMSC link is needed")
        self.settings = list(links)
        self.links = {s.name: SmppLink(s, self._delivered) for s in self.settings}
        self._tracker = ReceiptTracker(on_receipt, hold=receipt_hold)
        self._reassembler = Reassembler(on_inbound, timeout=mo_timeout, hold=on_part)
        self._validity = validity
        self._validity_text = relative_validity(validity)
        self._sweep_every = sweep_every
        self._clock = clock
        self._concat_ref = itertools.cycle(range(256))
        self._turn = itertools.count()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        for link in self.links.values():
            link.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="sms-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self.links.values()))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            now = self._clock()
            self._tracker.sweep(now)
            self._reassembler.sweep(now)

    def _delivered(self, link: str, sm: ShortMessage) -> Stored:
        now = self._clock()
        if sm.esm_class & ESM_TYPE_MASK == ESM_RECEIPT:
            report = read_receipt(sm, now)
            if report is None:
                log.warning("sms.receipt.unreadable", link=link, text=sm.short_message[:80])
                return None
            self._tracker.receipt(link, report, now)
            return None
        try:
            return self._reassembler.add(link, sm, now)
        except EncodingError as exc:  # answered OK all the same: a resend would not read better
            log.error("sms.mo.unreadable", link=link, sender=sm.source_addr, error=str(exc))
            return None

    def restore_parts(self, parts: Iterable[HeldPart]) -> None:
        """Parts of customers' long messages held before this process (call before start)."""
        self._reassembler.restore(parts)

    def expect(self, link: str, message_id: str, key: PartKey, expires: datetime) -> None:
        """A part sent before this process started (its id kept by the caller): its receipt,
        which the SMSC holds until the next bind, is matched, and it expires as if sent now."""
        self._tracker.sent(link, message_id, key, expires)

    async def send(self, to: str, text: str, ref: str, *, source: str | None = None) -> SendResult:
        """Send text to the number `to`; ref is the caller's id, echoed in its receipts.
        Raises EncodingError for a text that cannot go as SMS."""
        route = [self.links[s.name] for s in candidates(to, self.settings, next(self._turn))]
        p = plan(text, ref=next(self._concat_ref))
        expires = self._clock() + self._validity
        outcomes: list[PartOutcome] = []
        for seq, payload in enumerate(p.parts, start=1):
            key = PartKey(ref, seq, len(p.parts))
            outcomes.append(await self._send_part(route, to, source, p.coding, payload,
                                                  p.concatenated, key, expires))  # fmt: skip
        return SendResult(ref, p.coding.name, tuple(outcomes))

    async def _send_part(
        self, route: list[SmppLink], to: str, source: str | None, coding: int, payload: bytes,
        concatenated: bool, key: PartKey, expires: datetime,
    ) -> PartOutcome:  # fmt: skip
        for link in route:
            sm = ShortMessage(
                source_addr=source if source is not None else link.settings.source_addr,
                destination_addr=to.lstrip("+"), short_message=payload, data_coding=coding,
                esm_class=ESM_UDHI if concatenated else 0, registered_delivery=1,
                validity_period=self._validity_text,
            )  # fmt: skip
            try:
                message_id = await link.submit(sm)
            except LinkDown:
                log.info("sms.route.failover", link=link.name, ref=key.ref, part=key.part)
                continue
            except SubmitUnknown:
                log.warning("sms.part.unknown", link=link.name, ref=key.ref, part=key.part)
                return PartOutcome(key.part, PartStatus.UNKNOWN, link.name)
            except SubmitRejected as exc:
                log.warning("sms.part.rejected", link=link.name, ref=key.ref, part=key.part,
                            status=status_name(exc.status))  # fmt: skip
                return PartOutcome(key.part, PartStatus.REJECTED, link.name,
                                   error=status_name(exc.status))  # fmt: skip
            self._tracker.sent(link.name, message_id, key, expires)
            return PartOutcome(key.part, PartStatus.ACCEPTED, link.name, message_id)
        return PartOutcome(key.part, PartStatus.NOT_SENT, error="no bound link serves " + to)
