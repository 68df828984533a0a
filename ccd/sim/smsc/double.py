"""An SMSC double: a real SMPP 3.4 server on loopback, as a carrier's SMSC behaves.

It binds ESMEs (transceiver, transmitter, receiver) against its accounts, answers
submit_sm with message ids, enforces its own TPS and window per session (ESME_RTHROTTLED
beyond either, as carriers do) and records every submit with its arrival time, so tests
measure what the client really sent. It sends delivery receipts by rules per destination
prefix (state, delay, before the submit_sm_resp or after, TLVs or text only), injects MO
messages (long ones as concatenated parts, in any order, repeated), drops or silences
sessions, holds responses, and restarts (listener and sessions gone, then back on the port).
Receipts for an account with no bound session wait for its next bind, as SMSCs queue them.
A deliver_sm (receipt or MO) the ESME did not answer with an OK deliver_sm_resp is delivered
again, as SMSCs do: at its next bind when the session ended unanswered, after `retry_s`
when it answered with an error status.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ccd.log import get_logger
from ccd.messaging.sms.encoding import decode, plan, split_udh
from ccd.messaging.sms.pdu import (
    BINDS,
    ESM_RECEIPT,
    ESM_UDHI,
    HEADER,
    Bind,
    Command,
    Pdu,
    PduError,
    ShortMessage,
    Status,
    Tag,
    decode_pdu,
    encode_id,
    frame_length,
)
from ccd.messaging.sms.ratelimit import max_per_window
from ccd.messaging.sms.receipts import TEXT_OF_STATE, TLV_OF_STATE, DeliveryState

log = get_logger(__name__)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceiptRule:
    """How the double reports on a message: state (None: no receipt), after how many seconds,
    before its submit_sm_resp or not, with TLVs or only the receipt text."""

    state: DeliveryState | None = DeliveryState.DELIVERED
    delay: float = 0.0
    before_resp: bool = False
    tlv: bool = True


@dataclass
class Submitted:
    message_id: str
    system_id: str
    session: int
    source: str
    destination: str
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    at: float  # monotonic, when the PDU was read

    def as_json(self) -> dict[str, Any]:
        body = self.short_message
        concat = None
        if self.esm_class & ESM_UDHI:
            c, body = split_udh(body)
            concat = None if c is None else {"ref": c.ref, "total": c.total, "seq": c.seq}
        return {
            "message_id": self.message_id, "system_id": self.system_id, "session": self.session,
            "source": self.source, "destination": self.destination,
            "data_coding": self.data_coding, "concat": concat,
            "text": decode(self.data_coding, body),
            "registered_delivery": self.registered_delivery, "at": self.at,
        }  # fmt: skip


@dataclass
class _Stats:
    accepted_at: list[float] = field(default_factory=list)
    throttled: int = 0
    max_outstanding: int = 0


class Session(asyncio.Protocol):
    def __init__(self, smsc: SmscDouble, number: int) -> None:
        self.smsc = smsc
        self.number = number
        self.system_id: str | None = None
        self.receives = False  # bound as receiver or transceiver: receipts and MO come here
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.muted = False
        self.outstanding = 0
        self.recent: deque[float] = deque()
        self.seq = itertools.count(1)
        self.stats = _Stats()
        self.unacked: dict[int, ShortMessage] = {}  # deliver_sm by sequence, awaiting resp

    # -- transport -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.smsc.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.smsc.sessions.discard(self)
        self.transport = None
        unacked, self.unacked = self.unacked, {}
        if unacked and self.system_id is not None:  # the ESME may not have them: again later
            self.smsc.redelivered += len(unacked)
            self.smsc.queued[self.system_id].extend(unacked.values())

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, pdu: Pdu) -> None:
        if self.open and not self.muted:
            assert self.transport is not None
            self.transport.write(pdu.encode())

    def data_received(self, data: bytes) -> None:
        if self.muted:  # half-open: the socket stays, nothing is answered
            return
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            try:
                length = frame_length(bytes(self.buffer[:4]))
            except PduError as exc:
                log.warning("smsc.bad_frame", session=self.number, error=str(exc))
                self.send(Pdu(Command.GENERIC_NACK, Status.INVCMDLEN, 0))
                self.abort()
                return
            if len(self.buffer) < length:
                return
            pdu = decode_pdu(bytes(self.buffer[:length]))
            del self.buffer[:length]
            self.handle(pdu)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- SMPP ------------------------------------------------------------------------------

    def handle(self, pdu: Pdu) -> None:
        cmd = pdu.command
        if cmd in BINDS:
            self.bind(pdu)
        elif cmd == Command.SUBMIT_SM:
            self.submit(pdu)
        elif cmd == Command.ENQUIRE_LINK:
            self.send(Pdu(Command.ENQUIRE_LINK_RESP, 0, pdu.sequence))
        elif cmd == Command.UNBIND:
            self.send(Pdu(Command.UNBIND_RESP, 0, pdu.sequence))
            if self.transport is not None:
                self.transport.close()  # connection_lost queues what is unanswered
        elif pdu.is_response:  # generic_nack, deliver_sm_resp, enquire_link_resp
            self.smsc.responses.append(pdu)
            self.answered(pdu)
        else:
            self.send(Pdu(Command.GENERIC_NACK, Status.INVCMDID, pdu.sequence))

    def bind(self, pdu: Pdu) -> None:
        resp = pdu.command | 0x80000000
        if self.system_id is not None:
            self.send(Pdu(resp, Status.ALYBND, pdu.sequence))
            return
        try:
            bind = Bind.decode(pdu.body)
        except PduError as exc:
            self.send(Pdu(Command.GENERIC_NACK, exc.status, pdu.sequence))
            return
        status = self.smsc.check_account(bind.system_id, bind.password)
        if status != Status.OK:
            self.send(Pdu(resp, status, pdu.sequence))
            return
        self.system_id = bind.system_id
        self.receives = pdu.command != Command.BIND_TRANSMITTER
        self.smsc.binds += 1
        self.send(Pdu(resp, 0, pdu.sequence, encode_id(self.smsc.name)))
        log.info("smsc.bound", session=self.number, system_id=bind.system_id)
        if self.receives:
            self.smsc.flush_queued(self.system_id)

    def submit(self, pdu: Pdu) -> None:
        now = time.monotonic()
        if self.system_id is None:
            self.send(Pdu(Command.SUBMIT_SM_RESP, Status.INVBNDSTS, pdu.sequence))
            return
        try:
            sm = ShortMessage.decode(pdu.body)
        except PduError as exc:
            self.send(Pdu(Command.GENERIC_NACK, exc.status, pdu.sequence))
            return
        smsc = self.smsc
        if smsc.nacks:  # as some SMSCs throttle: a generic_nack instead of a submit_sm_resp
            self.send(Pdu(Command.GENERIC_NACK, smsc.nacks.pop(0), pdu.sequence))
            return
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        over_tps = smsc.tps is not None and len(self.recent) >= smsc.tps
        over_window = smsc.window is not None and self.outstanding >= smsc.window
        if over_tps or over_window:
            self.stats.throttled += 1
            smsc.throttled += 1
            self.send(Pdu(Command.SUBMIT_SM_RESP, Status.THROTTLED, pdu.sequence))
            return
        self.recent.append(now)
        self.stats.accepted_at.append(now)
        message_id = f"{next(smsc.ids):010x}"
        smsc.submits.append(Submitted(
            message_id, self.system_id, self.number, sm.source_addr, sm.destination_addr,
            sm.data_coding, sm.esm_class, sm.registered_delivery, sm.short_message, now,
        ))  # fmt: skip
        rule = smsc.rule_for(sm.destination_addr)
        wants_receipt = bool(sm.registered_delivery & 0x01) and rule.state is not None
        resp = Pdu(Command.SUBMIT_SM_RESP, 0, pdu.sequence, encode_id(message_id))
        if wants_receipt and rule.before_resp:
            smsc.send_receipt(self.system_id, message_id, sm, rule, session=self)
        if smsc.hold or smsc.resp_delay:
            self.outstanding += 1
            self.stats.max_outstanding = max(self.stats.max_outstanding, self.outstanding)
            smsc.held.append((self, resp))
            if not smsc.hold:
                smsc.later(smsc.resp_delay, smsc.release_one, self, resp)
        else:
            self.send(resp)
        if wants_receipt and not rule.before_resp:  # counted from the submit, resp or not
            smsc.later(rule.delay, smsc.send_receipt, self.system_id, message_id, sm, rule, self)

    def deliver(self, sm: ShortMessage) -> None:
        seq = next(self.seq)
        self.unacked[seq] = sm
        self.send(Pdu(Command.DELIVER_SM, 0, seq, sm.encode()))

    def answered(self, pdu: Pdu) -> None:
        sm = self.unacked.pop(pdu.sequence, None)
        if sm is None:
            return
        if pdu.command == Command.DELIVER_SM_RESP and pdu.status == Status.OK:
            self.smsc.acked_at.append(time.monotonic())
            return
        assert self.system_id is not None
        self.smsc.redelivered += 1  # refused for now (or nacked): the SMSC tries again
        self.smsc.later(self.smsc.retry_s, self.smsc.deliver_to, self.system_id, sm)

    def describe(self) -> dict[str, Any]:
        return {
            "session": self.number, "system_id": self.system_id, "receives": self.receives,
            "muted": self.muted, "accepted": len(self.stats.accepted_at),
            "unacked": len(self.unacked),
            "throttled": self.stats.throttled, "max_outstanding": self.stats.max_outstanding,
            "max_per_second": max_per_window(self.stats.accepted_at),
        }  # fmt: skip


class SmscDouble:
    def __init__(
        self, *, accounts: dict[str, str], tps: int | None = None, window: int | None = None,
        name: str = "smsc-double",
    ) -> None:  # fmt: skip
        self.accounts = dict(accounts)
        self.tps = tps
        self.window = window
        self.name = name
        self.resp_delay = 0.0
        self.hold = False
        self.nacks: list[int] = []  # statuses of generic_nacks answering the next submits
        self.responses: list[Pdu] = []  # what ESMEs answered to the double's requests
        self.rules: dict[str, ReceiptRule] = {"": ReceiptRule()}
        self.sessions: set[Session] = set()
        self.submits: list[Submitted] = []
        self.held: list[tuple[Session, Pdu]] = []
        self.queued: dict[str, list[ShortMessage]] = defaultdict(list)
        self.retry_s = 1.0  # a deliver_sm answered with an error is delivered again after it
        self.acked_at: list[float] = []  # monotonic, per OK deliver_sm_resp
        self.redelivered = 0
        self.ids = itertools.count(0x1000)
        self.binds = self.throttled = self.receipts_sent = self.mo_sent = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._numbers = itertools.count(1)
        self._timers: set[asyncio.TimerHandle] = set()
        self._all: list[Session] = []

    async def start(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, HOST, port or self.port,
                                                reuse_address=True)  # fmt: skip
        self.port = self._server.sockets[0].getsockname()[1]

    def _session(self) -> Session:
        s = Session(self, next(self._numbers))
        self._all.append(s)
        return s

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def restart(self, down_for: float) -> None:
        """The SMSC goes away (sessions cut, port closed) and comes back on the same port."""
        log.warning("smsc.restart", down_for=down_for)
        await self.stop()
        self.held.clear()
        await asyncio.sleep(down_for)
        await self.start(self.port)

    def later(self, delay: float, fn: Any, *args: Any) -> None:
        loop = asyncio.get_running_loop()
        if delay <= 0:
            fn(*args)
            return
        handle: asyncio.TimerHandle

        def run() -> None:
            self._timers.discard(handle)
            fn(*args)

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    # -- behaviour -------------------------------------------------------------------------

    def check_account(self, system_id: str, password: str) -> Status:
        if system_id not in self.accounts:
            return Status.INVSYSID
        if self.accounts[system_id] != password:
            return Status.INVPASWD
        return Status.OK

    def rule_for(self, destination: str) -> ReceiptRule:
        digits = destination.lstrip("+")
        best = max((p for p in self.rules if digits.startswith(p.lstrip("+"))), key=len)
        return self.rules[best]

    def release_one(self, session: Session, resp: Pdu) -> None:
        if (session, resp) in self.held:
            self.held.remove((session, resp))
            session.outstanding -= 1
            session.send(resp)

    def release(self) -> int:
        held, self.held = self.held, []
        for session, resp in held:
            session.outstanding -= 1
            session.send(resp)
        return len(held)

    def _receiving(self, system_id: str, prefer: Session | None = None) -> Session | None:
        if prefer is not None and prefer.open and prefer.receives and not prefer.muted:
            return prefer
        bound = [s for s in self.sessions if s.system_id == system_id and s.receives and s.open]
        return min(bound, key=lambda s: s.number) if bound else None

    def deliver_to(self, system_id: str, sm: ShortMessage, prefer: Session | None = None) -> None:
        session = self._receiving(system_id, prefer)
        if session is None:
            self.queued[system_id].append(sm)
        else:
            session.deliver(sm)

    def flush_queued(self, system_id: str) -> None:
        for sm in self.queued.pop(system_id, []):
            self.deliver_to(system_id, sm)

    def send_receipt(
        self, system_id: str, message_id: str, sm: ShortMessage, rule: ReceiptRule,
        session: Session | None = None,
    ) -> None:  # fmt: skip
        assert rule.state is not None
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M")
        stat = TEXT_OF_STATE[rule.state]
        delivered = "001" if rule.state is DeliveryState.DELIVERED else "000"
        text = (f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{stamp} "
                f"done date:{stamp} stat:{stat} err:000 text:")  # fmt: skip
        tlvs: dict[int, bytes] = {}
        if rule.tlv:
            tlvs = {Tag.RECEIPTED_MESSAGE_ID: encode_id(message_id),
                    Tag.MESSAGE_STATE: bytes((TLV_OF_STATE[rule.state],))}  # fmt: skip
        receipt = ShortMessage(
            source_addr=sm.destination_addr, destination_addr=sm.source_addr,
            short_message=text.encode("ascii"), esm_class=ESM_RECEIPT, tlvs=tlvs,
        )  # fmt: skip
        self.receipts_sent += 1
        self.deliver_to(system_id, receipt, session)

    def inject_mo(
        self, sender: str, recipient: str, text: str, *, order: list[int] | None = None,
        system_id: str | None = None, ref: int = 0x42,
    ) -> int:  # fmt: skip
        """A customer's message: one deliver_sm, or its parts in `order` (1-based part
        numbers, a number twice sends that part twice). Returns the number of parts."""
        p = plan(text, ref=ref)
        order = order or list(range(1, len(p.parts) + 1))
        if any(not 1 <= n <= len(p.parts) for n in order):
            raise ValueError(f"order: parts are 1..{len(p.parts)}, got {order}")
        target = system_id or next(iter(self.accounts))
        for n in order:
            sm = ShortMessage(
                source_addr=sender, destination_addr=recipient, short_message=p.parts[n - 1],
                data_coding=p.coding, esm_class=ESM_UDHI if p.concatenated else 0,
            )  # fmt: skip
            self.mo_sent += 1
            self.deliver_to(target, sm)
        return len(p.parts)

    def _matching(self, system_id: str | None) -> list[Session]:
        return [s for s in self.sessions if system_id is None or s.system_id == system_id]

    def drop(self, system_id: str | None = None) -> int:
        """Cut sessions without a word (a TCP reset), as a failing link does."""
        cut = self._matching(system_id)
        for s in cut:
            s.abort()
        return len(cut)

    def mute(self, system_id: str | None = None) -> int:
        """Sessions that stay open and answer nothing: a half-open link."""
        muted = self._matching(system_id)
        for s in muted:
            s.muted = True
        return len(muted)

    def state(self) -> dict[str, Any]:
        return {
            "port": self.port, "binds": self.binds, "submits": len(self.submits),
            "throttled": self.throttled, "receipts_sent": self.receipts_sent,
            "mo_sent": self.mo_sent, "held": len(self.held), "acked": len(self.acked_at),
            "unacked": sum(len(s.unacked) for s in self.sessions),
            "redelivered": self.redelivered,
            "queued": {k: len(v) for k, v in self.queued.items() if v},
            "sessions": [s.describe() for s in sorted(self.sessions, key=lambda s: s.number)],
            "all_sessions": [s.describe() for s in self._all],
        }  # fmt: skip
