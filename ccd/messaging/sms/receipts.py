"""Delivery receipts: read from a deliver_sm, matched to the part that was sent.

A receipt names the SMSC's message id in the receipted_message_id TLV or in its text
("id:... stat:DELIVRD ... done date:YYMMDDhhmm"). It can arrive before the submit_sm_resp
that tells us that id (the SMSC answers the handset faster than it answers us), so the
tracker holds a receipt it cannot match yet and settles it the moment the id is learnt.
Every part of a long message has an id and a receipt of its own. A part still without a
final receipt when its validity period runs out is reported `expired`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ccd.log import get_logger
from ccd.messaging.sms.pdu import ShortMessage, Tag

log = get_logger(__name__)


class DeliveryState(StrEnum):
    ENROUTE = "enroute"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    DELETED = "deleted"
    UNDELIVERABLE = "undeliverable"
    REJECTED = "rejected"
    UNKNOWN = "unknown"

    @property
    def final(self) -> bool:
        return self not in (DeliveryState.ENROUTE, DeliveryState.ACCEPTED)


_TEXT_STATES = {
    "ENROUTE": DeliveryState.ENROUTE, "ACCEPTD": DeliveryState.ACCEPTED,
    "DELIVRD": DeliveryState.DELIVERED, "EXPIRED": DeliveryState.EXPIRED,
    "DELETED": DeliveryState.DELETED, "UNDELIV": DeliveryState.UNDELIVERABLE,
    "REJECTD": DeliveryState.REJECTED, "UNKNOWN": DeliveryState.UNKNOWN,
}  # fmt: skip
TEXT_OF_STATE = {state: text for text, state in _TEXT_STATES.items()}
# message_state TLV values (SMPP 3.4 5.2.28)
_TLV_STATES = {
    1: DeliveryState.ENROUTE, 2: DeliveryState.DELIVERED, 3: DeliveryState.EXPIRED,
    4: DeliveryState.DELETED, 5: DeliveryState.UNDELIVERABLE, 6: DeliveryState.ACCEPTED,
    7: DeliveryState.UNKNOWN, 8: DeliveryState.REJECTED,
}  # fmt: skip
TLV_OF_STATE = {state: value for value, state in _TLV_STATES.items()}

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)


@dataclass(frozen=True)
class ReceiptReport:
    """What one receipt says: the SMSC's message id, the state, when, and its error code."""

    message_id: str
    state: DeliveryState
    at: datetime
    error: str = ""


def _date(text: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss, read as UTC. The format goes by length: strptime alone
    would take "2612030327" as 03:02:07 (its %M and %S match a single digit)."""
    fmt = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(text))
    if fmt is None or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None


def read_receipt(sm: ShortMessage, now: datetime) -> ReceiptReport | None:
    """The receipt in a deliver_sm, or None when it names no message id or state."""
    fields = {k.lower(): v for k, v in _FIELD.findall(sm.short_message.decode("latin-1"))}
    tlv_id = sm.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    message_id = tlv_id.rstrip(b"\x00").decode("latin-1") if tlv_id else fields.get("id", "")
    tlv_state = sm.tlvs.get(Tag.MESSAGE_STATE)
    state: DeliveryState | None = None
    if tlv_state and len(tlv_state) == 1:
        state = _TLV_STATES.get(tlv_state[0])
    if state is None:
        state = _TEXT_STATES.get(fields.get("stat", "").upper())
    if not message_id or state is None:
        return None
    at = _date(fields.get("done date", "")) or now
    return ReceiptReport(message_id, state, at, fields.get("err", ""))


def id_variants(message_id: str) -> tuple[str, ...]:
    """The spellings a carrier may use for one id: as sent, and hex <-> decimal (some SMSCs
    answer submit_sm in hex and write the receipt's id in decimal)."""
    out = [message_id]
    try:
        out.append(str(int(message_id, 16)))
    except ValueError:
        pass
    if message_id.isdigit():
        out.append(f"{int(message_id):x}")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class PartKey:
    """One sent part: the caller's reference of the message and the part number (1..parts)."""

    ref: str
    part: int
    parts: int


@dataclass(frozen=True)
class Receipt:
    """A receipt matched to the part it is about; what the mailing engine consumes."""

    ref: str
    part: int
    parts: int
    link: str
    message_id: str
    state: DeliveryState
    at: datetime


@dataclass
class _Sent:
    key: PartKey
    link: str
    message_id: str
    expires: datetime


class ReceiptTracker:
    """Matches receipts to sent parts by (link, message id), in whichever order they come."""

    def __init__(self, emit: Callable[[Receipt], None], *, hold: timedelta) -> None:
        self._emit = emit
        self._hold = hold
        self._sent: dict[tuple[str, str], _Sent] = {}
        self._early: dict[tuple[str, str], tuple[ReceiptReport, datetime]] = {}

    def sent(self, link: str, message_id: str, key: PartKey, expires: datetime) -> None:
        """The SMSC took a part under message_id; a receipt held for it is settled now."""
        entry = _Sent(key, link, message_id, expires)
        for variant in id_variants(message_id):
            early = self._early.pop((link, variant), None)
            if early is not None:
                self._settle(entry, early[0])
                if early[0].state.final:
                    return
        for variant in id_variants(message_id):
            self._sent[(link, variant)] = entry

    def receipt(self, link: str, report: ReceiptReport, now: datetime) -> None:
        entry = self._sent.get((link, report.message_id))
        if entry is None:
            log.debug("sms.receipt.early", link=link, message_id=report.message_id)
            self._early[(link, report.message_id)] = (report, now)
            return
        self._settle(entry, report)

    def _settle(self, entry: _Sent, report: ReceiptReport) -> None:
        if report.state.final:
            for variant in id_variants(entry.message_id):
                self._sent.pop((entry.link, variant), None)
        k = entry.key
        self._emit(Receipt(k.ref, k.part, k.parts, entry.link, entry.message_id, report.state,
                           report.at))  # fmt: skip

    def sweep(self, now: datetime) -> None:
        """Expire parts past their validity; drop receipts held too long for any submit."""
        expired = {id(e): e for e in self._sent.values() if e.expires <= now}
        for entry in expired.values():
            self._settle(entry, ReceiptReport(entry.message_id, DeliveryState.EXPIRED, now))
        for key, (report, held_at) in list(self._early.items()):
            if now - held_at > self._hold:
                del self._early[key]
                log.warning("sms.receipt.unmatched", link=key[0], message_id=report.message_id,
                            state=report.state.value)  # fmt: skip

    @property
    def pending(self) -> int:
        return len({id(e) for e in self._sent.values()})


def message_state(states: Iterable[DeliveryState | None]) -> DeliveryState | None:
    """A long message's state from its parts': the first failure (undeliverable, rejected,
    ...) as soon as a part failed; else, once every part is final, delivered when every part
    is and expired when one expired; None while a part is still on its way."""
    seen = list(states)
    failed = [s for s in seen if s is not None and s.final
              and s not in (DeliveryState.DELIVERED, DeliveryState.EXPIRED)]  # fmt: skip
    if failed:
        return failed[0]
    if not seen or any(s is None or not s.final for s in seen):
        return None
    if all(s is DeliveryState.DELIVERED for s in seen):
        return DeliveryState.DELIVERED
    return DeliveryState.EXPIRED
