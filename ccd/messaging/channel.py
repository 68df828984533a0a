"""The one interface every channel implements (email, fax, SMS over SMPP, ...).

A channel sends one message and says what became of the send when `send` returns
(`SendResult`: an e-mail's relay answer, a fax's whole call); what happens later (delivery
reports) it reports through the listener the sender gives it. Nothing outside a channel knows
its wire protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: int
    channel: str
    address: str  # E.164 number or e-mail address
    body: str  # the text; for a fax, the path of its document (TIFF or PDF)
    subject: str | None = None
    html: str | None = None
    unsubscribe_url: str | None = None
    attempt: int = 1  # 1 on the first send, 2 after one RETRY, ...


class Outcome(StrEnum):
    SENT = "sent"  # handed over; a delivery report may follow
    DELIVERED = "delivered"  # the channel knows it arrived (a fax's last page)
    FAILED = "failed"  # not sent, and it would fail again
    RETRY = "retry"  # not sent, may work later (busy, a 4xx reply)
    UNKNOWN = "unknown"  # the link broke mid-send: it may have gone out; never re-sent


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    reason: str | None = None
    bad_address: bool = False  # a permanent refusal of the address itself
    retry_after_s: float = 300.0
    pages: int | None = None  # a fax's pages transferred


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A later report on a sent message: DELIVERED, FAILED (with reason) or expired."""

    message_id: int
    state: str  # delivered | failed | expired
    reason: str | None = None


StatusListener = Callable[[StatusReport], Awaitable[None]]


class Channel(Protocol):
    name: str  # the channel it serves: sms | email | fax

    async def start(self, on_status: StatusListener) -> None: ...

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def close(self) -> None: ...
