"""Event fan-out: ARI websocket connections (JSON, serialized once per event) and AMI listeners."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ccd.sim.asterisk.model import Bridge, Channel, Playback, timestamp

# (event type, fields, the channel it is about, the calling channel of a Dial)
AmiListener = Callable[[str, dict[str, Any], Channel | None, Channel | None], None]
AmiBlockListener = Callable[[list[tuple[str, str]]], None]


class AriConnection:
    """One /ari/events websocket; a writer task drains its queue so emitters never wait."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None,
                 apps: list[str], subscribe_all: bool) -> None:
        self.ws = ws
        self.transport = transport
        self.apps = apps
        self.subscribe_all = subscribe_all
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while (text := await self.queue.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            finally:
                self.queue.task_done()

    async def flush(self, limit: float = 1.0) -> None:
        """Wait until what was queued has been written (or the writer is gone)."""
        if self.writer.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), limit)

    def close(self) -> None:
        self.queue.put_nowait(None)

    def drop(self) -> None:
        """Cut the TCP connection with no close frame (the client sees 1006)."""
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()
        self.close()


class EventHub:
    def __init__(self, app: str) -> None:
        self.app = app
        self.asterisk_id = ""
        self.connections: set[AriConnection] = set()
        self.ami_listeners: list[AmiListener] = []
        self.ami_blocks: list[AmiBlockListener] = []  # AMI-only events (app_queue)
        self.sent = 0
        self.lose_events = False  # see AsteriskDouble.lose_events

    def app_connected(self) -> bool:
        return any(self.app in c.apps for c in self.connections)

    def emit(self, type_: str, fields: dict[str, Any] | None = None, *,
             channel: Channel | None = None, peer: Channel | None = None,
             bridge: Bridge | None = None, playback: Playback | None = None,
             caller: Channel | None = None, to_app: bool | None = None) -> None:
        """Build the event once; deliver it to ARI when the app is subscribed to its object
        (or to_app forces it) and to every AMI listener."""
        subject = channel or peer
        if to_app is None:
            to_app = subject.subscribed if subject is not None else True
        for listener in self.ami_listeners:
            listener(type_, fields or {}, subject, caller)
        targets = [c for c in self.connections
                   if c.subscribe_all or (to_app and self.app in c.apps)]
        if not targets or self.lose_events:
            return
        event: dict[str, Any] = {"type": type_, "timestamp": timestamp()}
        if fields:
            event.update(fields)
        if channel is not None:
            event["channel"] = channel.json()
        if caller is not None:
            event["caller"] = caller.json()
        if peer is not None:
            event["peer"] = peer.json()
        if bridge is not None:
            event["bridge"] = bridge.json()
        if playback is not None:
            event["playback"] = playback.json()
        event["asterisk_id"] = self.asterisk_id
        event["application"] = self.app
        text = json.dumps(event)
        self.sent += 1
        for conn in targets:
            conn.queue.put_nowait(text)
