"""Inbound (MO) messages: decoded, and long ones reassembled from parts in any order.

Parts of one message share (sender, recipient, reference, total) and carry their number in
a concatenation UDH or in the sar_* TLVs. Payloads are joined in part order before decoding,
so an ESC pair or a surrogate pair cut by the sender between two parts still reads right.
A message whose parts do not all come within the timeout is delivered with what came,
marked incomplete: nothing the customer sent is dropped. A part repeated (the SMSC
retried, or sent it on two links) is counted once, also after its message was completed
(within the timeout, and only when its payload is the same: a new message that happens to
reuse the 8-bit reference is not mistaken for a repeat).

Acknowledgement (`add` returns when the SMSC may be answered): a whole message is answered
once it is stored: `emit` returns a future done then (None: at once). A part of a long message
that does not complete it is answered once `hold` has stored it (None: at once), not when its
message is whole: holding its resp that long would fill the SMSC's window with parts whose
later siblings then cannot come (SMSCs send within their window). Held parts are given back
with `restore` after a restart, and the whole message names them (`held`) so that its store
deletes them. A repeat of a part of a message already whole is answered when that message is
stored (its first answer went on a session that ended).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ccd.log import get_logger
from ccd.messaging.sms.encoding import Concat, EncodingError, coding_name, decode, split_udh
from ccd.messaging.sms.pdu import ESM_UDHI, ShortMessage, Tag

log = get_logger(__name__)


@dataclass(frozen=True)
class InboundSms:
    """A message from a customer, as the contacts/inbox work will store it."""

    sender: str
    recipient: str
    text: str
    parts: int
    complete: bool
    link: str
    received_at: datetime
    coding: str  # gsm7, ucs2, latin1, ascii (encoding.coding_name)
    held: PartsKey | None = None  # its parts held (stored) until it was whole


PartsKey = tuple[str, str, int, int]
"""A long message's parts: sender, recipient, concatenation reference, number of parts."""


@dataclass(frozen=True)
class HeldPart:
    """A part of a long message not yet whole, answered to the SMSC once stored."""

    key: PartsKey
    seq: int
    data_coding: int
    payload: bytes
    link: str
    first_at: datetime  # when the message's first part came


@dataclass
class _Pending:
    first_at: datetime
    link: str
    data_coding: int
    total: int
    payloads: dict[int, bytes] = field(default_factory=dict)


Stored = asyncio.Future[None] | None
"""Done when a message is stored and its deliver_sm may be answered; None: answer at once."""


@dataclass
class _Done:
    at: datetime
    payloads: dict[int, bytes]
    stored: Stored


def _concat(sm: ShortMessage) -> tuple[Concat | None, bytes]:
    if sm.esm_class & ESM_UDHI:
        return split_udh(sm.short_message)
    sar = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
    ref, total, seq = (sm.tlvs.get(t) for t in sar)
    if ref and total and seq:
        return Concat(int.from_bytes(ref, "big"), total[0], seq[0]), sm.short_message
    return None, sm.short_message


class Reassembler:
    def __init__(
        self,
        emit: Callable[[InboundSms], Stored],
        *,
        timeout: timedelta,
        hold: Callable[[HeldPart], Stored] | None = None,
    ) -> None:
        self._emit = emit
        self._hold = hold
        self._timeout = timeout
        self._pending: dict[PartsKey, _Pending] = {}
        # parts of messages completed within the timeout: a repeat of one is no new message
        self._done: dict[PartsKey, _Done] = {}

    def restore(self, parts: Iterable[HeldPart]) -> None:
        """Parts held before a restart: their messages complete when the rest comes, or are
        delivered incomplete when the timeout (from their first part) ends."""
        for part in parts:
            pending = self._pending.get(part.key)
            if pending is None:
                pending = self._pending[part.key] = _Pending(
                    part.first_at, part.link, part.data_coding, part.key[3]
                )
            pending.payloads[part.seq] = part.payload

    def add(self, link: str, sm: ShortMessage, now: datetime) -> Stored:
        """One deliver_sm that is not a receipt; when to answer it (see the module's
        docstring). Raises EncodingError for an unreadable one."""
        concat, payload = _concat(sm)
        if concat is None or concat.total == 1:
            text = decode(sm.data_coding, payload)
            return self._emit(InboundSms(sm.source_addr, sm.destination_addr, text, 1, True,
                                          link, now, coding_name(sm.data_coding)))  # fmt: skip
        key = (sm.source_addr, sm.destination_addr, concat.ref, concat.total)
        done = self._done.get(key)
        if done is not None and done.payloads.get(concat.seq) == payload:
            log.info("sms.mo.duplicate_part", sender=sm.source_addr, ref=concat.ref,
                     part=concat.seq, link=link)  # fmt: skip
            return done.stored
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(now, link, sm.data_coding, concat.total)
        if concat.seq in pending.payloads:
            log.info("sms.mo.duplicate_part", sender=sm.source_addr, ref=concat.ref,
                     part=concat.seq, link=link)  # fmt: skip
            return None
        pending.payloads[concat.seq] = payload
        if len(pending.payloads) < concat.total:
            if self._hold is None:
                return None
            return self._hold(HeldPart(key, concat.seq, sm.data_coding, payload, link,
                                       pending.first_at))  # fmt: skip
        del self._pending[key]
        stored = self._finish(key, pending, complete=True)
        self._done[key] = _Done(now, pending.payloads, stored)
        return stored

    def _finish(self, key: PartsKey, p: _Pending, *, complete: bool) -> Stored:
        joined = b"".join(p.payloads[seq] for seq in sorted(p.payloads))
        try:
            text = decode(p.data_coding, joined)
        except EncodingError:  # an odd UCS-2 length when a middle part is missing
            text = "".join(decode(p.data_coding, p.payloads[s]) for s in sorted(p.payloads))
        return self._emit(InboundSms(key[0], key[1], text, p.total, complete, p.link, p.first_at,
                                     coding_name(p.data_coding), held=key))  # fmt: skip

    def sweep(self, now: datetime) -> None:
        """Deliver what came of messages whose parts stopped coming."""
        for key, done in list(self._done.items()):
            if now - done.at >= self._timeout:
                del self._done[key]
        for key, pending in list(self._pending.items()):
            if now - pending.first_at >= self._timeout:
                del self._pending[key]
                log.warning("sms.mo.incomplete", sender=key[0], ref=key[2], total=key[3],
                            got=sorted(pending.payloads))  # fmt: skip
                self._finish(key, pending, complete=False)

    @property
    def pending(self) -> int:
        return len(self._pending)
