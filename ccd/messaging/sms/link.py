"""One SMPP client link (an ESME bound as transceiver to one SMSC account).

One supervisor task per link owns the connection: connect, bind_transceiver, then a reader
and a keepalive task; any I/O error, a dead-link verdict or an unbind from the SMSC ends the
session, and the supervisor backs off (doubling up to reconnect_max) and binds again.

Sending: a submit takes a slot of the window (submit_sm awaiting their resp), then a turn of
the send-rate limit (never more than tps in any one-second window), then goes out.
ESME_RTHROTTLED / ESME_RMSGQFUL (in a submit_sm_resp or a generic_nack) mean the SMSC did not
take it: the link pauses (doubling while it keeps happening) and sends it again. A submit
that was written but got no response before the link dropped or the response timeout is
`SubmitUnknown`: the SMSC may have taken it, so it is never re-sent here.

Receiving: the deliver handler may return a future; the deliver_sm_resp then goes out when it
resolves (OK; an error status when it failed, so the SMSC delivers again), in whatever order
they resolve (resps are matched by sequence number), while the reader goes on reading. The
SMSC's own window bounds how many wait. A resp due on a session that has ended is not sent:
the SMSC delivers that deliver_sm again on the next bind.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from enum import StrEnum
from functools import partial
from typing import Any

from ccd.log import get_logger
from ccd.messaging.sms.pdu import (
    HEADER,
    Bind,
    Command,
    Pdu,
    PduError,
    ShortMessage,
    Status,
    decode_id,
    decode_pdu,
    encode_id,
    frame_length,
    status_name,
)
from ccd.messaging.sms.ratelimit import SendRate
from ccd.messaging.sms.settings import LinkSettings

log = get_logger(__name__)

DeliverHandler = Callable[[str, ShortMessage], "asyncio.Future[Any] | None"]
"""Called with (link name, deliver_sm); must not block. Returns None to have it answered at
once, or a future: answered when that is done (an error status if it failed; none at all if it
was cancelled)."""


class LinkState(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    BOUND = "bound"
    CLOSED = "closed"


class LinkDown(Exception):  # noqa: N818 - a state, not a failure of ours
    """The link is not bound: nothing was sent, another link may carry the message."""


class SubmitUnknown(Exception):  # noqa: N818
    """Sent, but no response came: the SMSC may or may not have taken it. Never re-send."""


class SubmitRejected(Exception):
    """The SMSC answered with an error status: it did not take the message."""

    def __init__(self, status: int) -> None:
        super().__init__(status_name(status))
        self.status = status


class _Dropped(Exception):  # noqa: N818
    """Set on the futures of requests outstanding when the session ended."""


_RETRY = (Status.THROTTLED, Status.MSGQFUL)
# PDUs read before letting the loop run: a burst of deliver_sm that arrived in one read is
# otherwise handled in one go (2 000 of them hold the loop for half a second).
_YIELD_EVERY = 64
_RESPONSES = {
    Command.ENQUIRE_LINK: Command.ENQUIRE_LINK_RESP, Command.UNBIND: Command.UNBIND_RESP,
    Command.DELIVER_SM: Command.DELIVER_SM_RESP,
}  # fmt: skip


class SmppLink:
    def __init__(self, settings: LinkSettings, on_deliver: DeliverHandler) -> None:
        self.settings = settings
        self.name = settings.name
        self.state = LinkState.DISCONNECTED
        self._on_deliver = on_deliver
        self._window = asyncio.Semaphore(settings.window)
        self._rate = SendRate(settings.tps)
        self._seq = itertools.cycle(range(1, 0x80000000))
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._bound = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._last_rx = time.monotonic()
        self._pause_until = 0.0
        self._throttle_streak = 0
        self.binds = 0  # sessions bound since start, for tests and metrics

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"smpp-{self.name}")

    async def wait_bound(self, within: float) -> None:
        await asyncio.wait_for(self._bound.wait(), within)

    @property
    def bound(self) -> bool:
        return self.state is LinkState.BOUND

    async def close(self) -> None:
        """Unbind politely (1 s at most) and stop reconnecting."""
        was_bound = self.bound
        self.state = LinkState.CLOSED  # first: the session's end must not start a reconnect
        if was_bound:
            try:
                await asyncio.wait_for(self._request(Command.UNBIND, b""), 1.0)
            except (TimeoutError, _Dropped, OSError):
                pass
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._teardown()

    async def _supervise(self) -> None:
        backoff = self.settings.reconnect_min
        while self.state is not LinkState.CLOSED:
            self.state = LinkState.CONNECTING
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.settings.host, self.settings.port),
                    self.settings.response_timeout,
                )
            except (OSError, TimeoutError) as exc:
                log.warning("sms.link.connect_failed", link=self.name, error=str(exc))
            else:
                if await self._session(reader, writer):
                    backoff = self.settings.reconnect_min
            self._teardown()
            if self.state is LinkState.CLOSED:
                return
            self.state = LinkState.DISCONNECTED
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """One connection, from bind to its end; True when it got bound."""
        self._writer = writer
        self._last_rx = time.monotonic()
        read = asyncio.create_task(self._read(reader), name=f"smpp-{self.name}-read")
        read.add_done_callback(lambda _: self._lost())
        s = self.settings
        bind = Bind(s.system_id, s.password, s.system_type).encode()
        try:
            resp = await asyncio.wait_for(self._request(Command.BIND_TRANSCEIVER, bind),
                                          s.response_timeout)  # fmt: skip
            if resp.status != Status.OK:
                log.error("sms.link.bind_refused", link=self.name, status=status_name(resp.status))
                return False
            self.state = LinkState.BOUND
            self.binds += 1
            self._bound.set()
            log.info("sms.link.bound", link=self.name, smsc=decode_id(resp.body, "bind_resp"))
            keep = asyncio.create_task(self._keepalive(writer), name=f"smpp-{self.name}-keep")
            try:
                await asyncio.wait((read, keep), return_when=asyncio.FIRST_COMPLETED)
            finally:
                keep.cancel()
                await asyncio.gather(keep, return_exceptions=True)
            log.warning("sms.link.down", link=self.name)
            return True
        except (TimeoutError, _Dropped, OSError) as exc:
            log.warning("sms.link.bind_failed", link=self.name, error=repr(exc))
            return False
        finally:
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)

    def _lost(self) -> None:
        """The session ended: nothing more is sent on it, and what awaits a response fails."""
        if self.state is not LinkState.CLOSED:
            self.state = LinkState.DISCONNECTED
        self._bound.clear()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(_Dropped())

    def _teardown(self) -> None:
        self._lost()
        if self._writer is not None:
            self._writer.transport.abort()
            self._writer = None

    # -- wire ------------------------------------------------------------------------------

    def _write(self, pdu: Pdu) -> None:
        if self._writer is None:
            raise _Dropped()
        self._writer.write(pdu.encode())

    def _request(self, command: Command, body: bytes) -> asyncio.Future[Pdu]:
        seq = next(self._seq)
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._write(Pdu(command, 0, seq, body))
        self._pending[seq] = fut
        return fut

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            for n in itertools.count(1):
                head = await reader.readexactly(HEADER.size)
                rest = await reader.readexactly(frame_length(head) - HEADER.size)
                self._last_rx = time.monotonic()
                self._dispatch(decode_pdu(head + rest))
                if n % _YIELD_EVERY == 0:  # readexactly does not yield while data is buffered
                    await asyncio.sleep(0)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.info("sms.link.closed_by_peer", link=self.name, error=repr(exc))
        except PduError as exc:  # a framing error: nothing after it can be trusted
            log.error("sms.link.bad_frame", link=self.name, error=str(exc))

    def _dispatch(self, pdu: Pdu) -> None:
        if pdu.is_response:
            fut = self._pending.pop(pdu.sequence, None)
            if fut is not None and not fut.done():
                fut.set_result(pdu)
            elif pdu.command == Command.GENERIC_NACK:
                log.warning("sms.link.generic_nack", link=self.name, seq=pdu.sequence,
                            status=status_name(pdu.status))  # fmt: skip
            return
        if pdu.command == Command.DELIVER_SM:
            try:
                sm = ShortMessage.decode(pdu.body, "deliver_sm")
            except PduError as exc:
                log.error("sms.link.bad_deliver_sm", link=self.name, error=str(exc))
                self._write(Pdu(Command.GENERIC_NACK, exc.status, pdu.sequence))
                return
            try:
                done = self._on_deliver(self.name, sm)
            except Exception:  # ours, not the SMSC's: let it deliver again later
                log.exception("sms.link.deliver_failed", link=self.name)
                self._write(Pdu(Command.DELIVER_SM_RESP, Status.X_T_APPN, pdu.sequence))
                return
            if done is None:
                self._write(Pdu(Command.DELIVER_SM_RESP, 0, pdu.sequence, encode_id("")))
            else:
                done.add_done_callback(partial(self._answer, self._writer, pdu.sequence))
        elif pdu.command in _RESPONSES:
            self._write(Pdu(_RESPONSES[Command(pdu.command)], 0, pdu.sequence))
            if pdu.command == Command.UNBIND:
                log.warning("sms.link.unbound_by_smsc", link=self.name)
                raise ConnectionResetError("unbind from the SMSC")
        else:
            self._write(Pdu(Command.GENERIC_NACK, Status.INVCMDID, pdu.sequence))

    def _answer(
        self, writer: asyncio.StreamWriter | None, seq: int, done: asyncio.Future[Any]
    ) -> None:
        """The deliver_sm_resp of a deliver_sm whose handling has ended, on its own session."""
        if done.cancelled():
            return
        failed = done.exception() is not None
        if writer is not self._writer or writer is None or writer.is_closing():
            log.debug("sms.link.resp_lost", link=self.name, seq=seq, failed=failed)
            return
        if failed:
            log.warning("sms.link.deliver_failed", link=self.name, error=repr(done.exception()))
            writer.write(Pdu(Command.DELIVER_SM_RESP, Status.X_T_APPN, seq).encode())
        else:
            writer.write(Pdu(Command.DELIVER_SM_RESP, 0, seq, encode_id("")).encode())

    async def _keepalive(self, writer: asyncio.StreamWriter) -> None:
        """enquire_link every interval; a link silent for dead_after is dead (half-open)."""
        s = self.settings
        tick = min(s.enquire_interval, s.dead_after / 3)
        last_enquire = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self._last_rx > s.dead_after:
                log.error("sms.link.dead", link=self.name, silent_for=round(now - self._last_rx, 1))
                return
            if now - last_enquire >= s.enquire_interval:
                last_enquire = now
                self._request(Command.ENQUIRE_LINK, b"")  # its resp refreshes _last_rx
            await writer.drain()

    # -- sending ---------------------------------------------------------------------------

    async def submit(self, sm: ShortMessage) -> str:
        """The SMSC's message id for sm. Raises LinkDown (not sent), SubmitRejected (refused)
        or SubmitUnknown (sent, no answer)."""
        if not self.bound:
            raise LinkDown(self.name)
        body = sm.encode()
        for _ in range(self.settings.max_throttle_retries + 1):
            resp = await self._submit_once(body)
            if resp.status == Status.OK and resp.command == Command.SUBMIT_SM_RESP:
                self._throttle_streak = 0
                return decode_id(resp.body, "submit_sm_resp")
            if resp.status not in _RETRY:
                raise SubmitRejected(resp.status)
            self._slow_down(resp.status)
        raise SubmitRejected(Status.THROTTLED)

    async def _submit_once(self, body: bytes) -> Pdu:
        async with self._window:
            # a THROTTLED answer to another submit can lengthen the pause while we sleep
            while (pause := self._pause_until - time.monotonic()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(pause)
            await self._rate.wait()
            if not self.bound or self._writer is None:
                raise LinkDown(self.name)
            fut = self._request(Command.SUBMIT_SM, body)
            try:
                if self._writer.transport.get_write_buffer_size() > 256 * 1024:
                    await self._writer.drain()
                return await asyncio.wait_for(fut, self.settings.response_timeout)
            except (TimeoutError, _Dropped, ConnectionError):
                raise SubmitUnknown(self.name) from None

    def _slow_down(self, status: int) -> None:
        self._throttle_streak += 1
        pause = self.settings.throttle_pause * 2 ** min(self._throttle_streak - 1, 5)
        self._pause_until = max(self._pause_until, time.monotonic() + pause)
        log.info("sms.link.throttled", link=self.name, status=status_name(status),
                 pause=round(pause, 3))  # fmt: skip
