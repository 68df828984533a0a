"""Closing the WebSockets of tokens that stopped working.

A WebSocket is authenticated once, at its upgrade; after that only this watch ends it. Whatever
ends tokens (logout, `ccd user disable`, `ccd user passwd`, `ccd agent disable`, `ccd agent
token`), in this process or in a CLI, NOTIFYs SESSION_CHANNEL in its transaction; on each
NOTIFY every open socket resolves its token again and closes (4001) when it no longer
resolves. The NOTIFY carries no detail: these are rare, and one lookup per socket keeps the
rule in one place (ccd.api.auth.resolve_token). Every `recheck_s` the sockets look anyway:
sessions and tokens also end by expiring, and a NOTIFY sent while the listening connection
was down is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
from aiohttp import web
from asyncpg.pool import PoolConnectionProxy

from ccd.api.auth import resolve_token
from ccd.log import get_logger
from ccd.store.agents import SESSION_CHANNEL
from ccd.store.db import AnyConnection

log = get_logger(__name__)

CLOSE_SESSION_ENDED = 4001  # application close code: log in again


class SessionWatch:
    def __init__(self, pool: asyncpg.Pool, *, recheck_s: float = 60.0) -> None:
        self._pool = pool
        self._recheck_s = recheck_s
        self._wakeups: set[asyncio.Event] = set()
        self._subscribers: list[Callable[[], None]] = []
        self._conn: PoolConnectionProxy | None = None

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` on every NOTIFY too (the engine takes disabled agents off calls)."""
        self._subscribers.append(callback)

    async def start(self) -> None:
        conn = await self._pool.acquire()
        await conn.add_listener(SESSION_CHANNEL, self._on_notify)
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self._conn.remove_listener(SESSION_CHANNEL, self._on_notify)
            await self._pool.release(self._conn)
            self._conn = None

    def _on_notify(self, _conn: AnyConnection, _pid: int, _channel: str, _payload: object) -> None:
        for wakeup in self._wakeups:
            wakeup.set()
        for callback in self._subscribers:
            callback()

    async def guard(self, ws: web.WebSocketResponse, token: str) -> None:
        """Run beside a served socket: close it once `token` stops resolving."""
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        try:
            while not ws.closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self._recheck_s)
                wakeup.clear()
                try:
                    principal = await resolve_token(self._pool, token)
                except (asyncpg.PostgresError, OSError) as exc:
                    log.warning("live.session_check_failed", error=str(exc))
                    continue
                if principal is None:
                    log.info("live.session_ended")
                    # Shielded: the close ends the handler's read loop, which cancels this
                    # task; the close handshake must go on without it.
                    await asyncio.shield(
                        ws.close(code=CLOSE_SESSION_ENDED, message=b"session ended")
                    )
                    return
        finally:
            self._wakeups.discard(wakeup)
