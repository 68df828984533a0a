"""AMI client of one Asterisk node on asyncio streams.

Why not panoramisk (1.4, read in its source): on a lost connection its protocol moves every
pending action without a response into `awaiting_actions` and re-sends them after the next
login (`Manager.send_awaiting_actions` on FullyBooted) - an Originate, Redirect or Hangup would
run twice. Its Ping is fire-and-forget (a half-open socket is never noticed), reconnect is a
fixed `call_later` that cannot be cancelled after a failed login, and actions have no timeout.
Wrapping it meant overriding `forgetable_actions` with a match-all, failing its futures by hand
and replacing its pinger and reconnect; this client is smaller than that wrapper.

Guarantees:
- no action is ever re-sent: when the link drops, every pending action fails with
  PbxUnavailable ("may have run"); the caller decides whether a retry is safe;
- every action has a timeout (PbxTimeout; a late answer is dropped);
- a Ping watchdog (every `ping_interval_s`, answer within `ping_timeout_s`) aborts a half-open
  connection, so it is noticed within interval + timeout (10 s by default, under 15 s);
- EventList actions (CoreShowChannels, QueueStatus, Status, ...) return their item events;
- Originate (Async) returns the OriginateResponse event.
One supervisor: every I/O failure goes to `_link_lost`, which starts exactly one reconnect task.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ccd.config import AsteriskNode
from ccd.log import get_logger
from ccd.telephony.backoff import backoff_delay
from ccd.telephony.errors import AmiAuthError, AmiError, PbxTimeout, PbxUnavailable
from ccd.telephony.pbx import LinkStatus

log = get_logger(__name__)

EOL = "\r\n"


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One AMI block. `fields` keeps the first value of each key; `pairs` keeps them all
    (some events repeat a key, e.g. ChanVariable)."""

    pairs: tuple[tuple[str, str], ...]
    fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, block: str) -> AmiMessage:
        pairs = []
        for line in block.split(EOL):
            key, sep, value = line.partition(":")
            if sep:
                pairs.append((key.strip(), value.strip()))
        fields: dict[str, str] = {}
        for k, v in pairs:
            fields.setdefault(k, v)
        return cls(tuple(pairs), fields)

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)

    def get_all(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]

    @property
    def event(self) -> str:
        return self.get("Event")


def encode_action(action: str, action_id: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """Serialize one action; CR/LF inside a value would inject lines and is refused."""
    lines = [f"Action: {action}", f"ActionID: {action_id}"]
    for key, value in fields:
        if any(c in f"{key}{value}" for c in "\r\n"):
            raise ValueError(f"AMI field {key!r} contains a line break")
        lines.append(f"{key}: {value}")
    return (EOL.join(lines) + EOL + EOL).encode()


_Kind = Literal["single", "list", "originate"]


@dataclass(eq=False)
class _Pending:
    kind: _Kind
    future: asyncio.Future[AmiMessage | list[AmiMessage]]
    items: list[AmiMessage] = field(default_factory=list)


class AmiClient:
    def __init__(
        self,
        node: AsteriskNode,
        *,
        on_event: Callable[[AmiMessage], None] | None = None,
        events: bool = True,
        action_timeout_s: float = 10.0,
        ping_interval_s: float = 5.0,
        ping_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
    ) -> None:
        self.node = node.name
        self._host = node.ami_host
        self._port = node.ami_port
        self._user = node.ami_user
        self._secret = node.ami_secret
        self._on_event = on_event
        self._events = events
        self._action_timeout_s = action_timeout_s
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self.status = LinkStatus.DISCONNECTED
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self.connects = 0

    # --- life cycle ---

    async def start(self) -> None:
        """Connect and log in. A refused login raises AmiAuthError naming the node; an
        unreachable node is left to the reconnect loop."""
        self.status = LinkStatus.CONNECTING
        try:
            await self._connect()
        except AmiAuthError:
            self.status = LinkStatus.CLOSED
            raise
        except (OSError, PbxUnavailable, PbxTimeout) as exc:
            log.warning("ami.connect_failed", node=self.node, error=str(exc))
            self._link_lost(exc)

    async def close(self) -> None:
        self.status = LinkStatus.CLOSED
        current = asyncio.current_task()
        tasks = [t for t in (*self._tasks, self._reconnect_task) if t and t is not current]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._drop_connection(PbxUnavailable("AMI client closed", node=self.node))

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), self._action_timeout_s
            )
        except TimeoutError as exc:
            raise PbxTimeout("AMI connect timed out", node=self.node) from exc
        try:
            banner = await asyncio.wait_for(reader.readline(), self._action_timeout_s)
        except TimeoutError as exc:
            writer.close()
            raise PbxTimeout("no AMI banner", node=self.node) from exc
        if not banner.startswith(b"Asterisk Call Manager/"):
            writer.close()
            raise PbxUnavailable(f"not an AMI server: {banner[:60]!r}", node=self.node)
        self._reader, self._writer = reader, writer
        self._spawn(self._read(reader), "ami-reader")
        try:
            await self.action(
                "Login",
                Username=self._user,
                Secret=self._secret,
                Events="on" if self._events else "off",
            )
        except AmiError as exc:
            self._drop_connection(exc)
            raise AmiAuthError(f"AMI login refused: {exc.message}", node=self.node) from exc
        except BaseException as exc:
            self._drop_connection(exc)
            raise
        self.status = LinkStatus.CONNECTED
        self.connects += 1
        self._spawn(self._watchdog(), "ami-ping")
        log.info("ami.connected", node=self.node, banner=banner.decode(errors="replace").strip())

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{name}:{self.node}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- actions ---

    async def action(
        self, action: str, *, timeout_s: float | None = None, **fields: str
    ) -> AmiMessage:
        """Send one action and return its response; `Response: Error` raises AmiError."""
        result = await self._send("single", action, fields.items(), timeout_s)
        assert isinstance(result, AmiMessage)
        return result

    async def action_list(
        self, action: str, *, timeout_s: float | None = None, **fields: str
    ) -> list[AmiMessage]:
        """An EventList action: the item events between `EventList: start` and `Complete`."""
        result = await self._send("list", action, fields.items(), timeout_s)
        assert isinstance(result, list)
        return result

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        timeout_s: int = 30,
        variables: Mapping[str, str] | None = None,
    ) -> AmiMessage:
        """Originate (Async) and return the OriginateResponse event (Response, Reason, ...).
        Sent once: if the link drops first, this raises PbxUnavailable and is NOT retried."""
        fields: list[tuple[str, str]] = [("Channel", channel)]
        for key, value in (
            ("Context", context),
            ("Exten", exten),
            ("Priority", priority),
            ("Application", application),
            ("Data", data),
            ("CallerID", caller_id),
        ):
            if value is not None:
                fields.append((key, str(value)))
        fields += [("Timeout", str(timeout_s * 1000)), ("Async", "true")]
        fields += [("Variable", f"{k}={v}") for k, v in (variables or {}).items()]
        result = await self._send(
            "originate", "Originate", fields, timeout_s + self._action_timeout_s
        )
        assert isinstance(result, AmiMessage)
        return result

    async def _send(
        self,
        kind: _Kind,
        action: str,
        fields: Iterable[tuple[str, str]],
        timeout_s: float | None,
    ) -> AmiMessage | list[AmiMessage]:
        writer = self._writer
        if writer is None or (self.status is not LinkStatus.CONNECTED and action != "Login"):
            raise PbxUnavailable(f"AMI not connected; {action} not sent", node=self.node)
        action_id = f"ccd-{next(self._ids)}"
        data = encode_action(action, action_id, fields)
        future: asyncio.Future[AmiMessage | list[AmiMessage]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[action_id] = _Pending(kind, future)
        writer.write(data)
        try:
            return await asyncio.wait_for(future, timeout_s or self._action_timeout_s)
        except TimeoutError as exc:
            raise PbxTimeout(
                f"{action} {action_id}: no answer in time; it may have run", node=self.node
            ) from exc
        finally:
            self._pending.pop(action_id, None)

    # --- reading ---

    async def _read(self, reader: asyncio.StreamReader) -> None:
        error: BaseException
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                self._handle(AmiMessage.parse(raw.decode("utf-8", errors="replace")))
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, OSError) as exc:
            error = exc
        except Exception as exc:  # a bug in on_event must not kill the link silently
            log.exception("ami.reader_failed", node=self.node)
            error = exc
        self._link_lost(error)

    def _handle(self, msg: AmiMessage) -> None:
        pending = self._pending.get(msg.get("ActionID"))
        if pending is None or pending.future.done():
            if msg.event and self._on_event is not None:
                self._on_event(msg)
            return
        if msg.event:
            if pending.kind == "originate" and msg.event == "OriginateResponse":
                pending.future.set_result(msg)
            elif pending.kind == "list":
                if msg.get("EventList") == "Complete" or msg.event.endswith("Complete"):
                    pending.future.set_result(pending.items)
                else:
                    pending.items.append(msg)
            return
        if msg.get("Response") == "Error":
            pending.future.set_exception(AmiError(msg.get("Message"), node=self.node))
        elif pending.kind == "single":
            pending.future.set_result(msg)
        elif pending.kind == "list" and msg.get("EventList") != "start":
            pending.future.set_result([])
        # list + EventList start, originate + "successfully queued": wait for the events

    # --- supervision ---

    async def _watchdog(self) -> None:
        while self.status is LinkStatus.CONNECTED:
            await asyncio.sleep(self._ping_interval_s)
            try:
                await self.action("Ping", timeout_s=self._ping_timeout_s)
            except PbxTimeout as exc:
                log.warning("ami.ping_timeout", node=self.node)
                self._link_lost(exc)
                return
            except PbxUnavailable:
                return

    def _drop_connection(self, error: BaseException) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(
                    PbxUnavailable(
                        f"AMI connection lost before the answer; the action may have run ({error})",
                        node=self.node,
                    )
                )
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _link_lost(self, error: BaseException) -> None:
        """The one place an AMI link failure goes: start exactly one reconnect task."""
        if self.status in (LinkStatus.CLOSED, LinkStatus.RECONNECTING):
            return
        log.warning("ami.link_lost", node=self.node, error=str(error) or type(error).__name__)
        self.status = LinkStatus.RECONNECTING
        self._drop_connection(error)
        self._reconnect_task = asyncio.get_running_loop().create_task(
            self._reconnect(), name=f"ami-reconnect:{self.node}"
        )

    async def _reconnect(self) -> None:
        attempt = 0
        while self.status is LinkStatus.RECONNECTING:
            await asyncio.sleep(
                backoff_delay(attempt, self._backoff_initial_s, self._backoff_max_s)
            )
            attempt += 1
            try:
                await self._connect()
                return
            except asyncio.CancelledError:
                raise
            except AmiAuthError as exc:
                log.error("ami.reconnect_auth_failed", node=self.node, error=str(exc))
                attempt = max(attempt, 30)
            except Exception as exc:
                self._drop_connection(exc)
                log.info("ami.reconnect_failed", node=self.node, attempt=attempt, error=str(exc))
