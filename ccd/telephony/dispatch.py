"""Per-key ordered dispatch: events of one key run in order, different keys concurrently.

Each key (a call id) gets a FIFO and a worker task while it has work; the worker exits when
its FIFO is empty, so idle calls cost nothing. A slow handler for one key delays only that key.

Overflow policy: a key's FIFO holds at most `max_pending` events. Beyond that, events that
`must_deliver` rejects (e.g. ChannelVarset, ChannelDialplan floods) are dropped and counted,
with one `dispatch.overflow` warning per key per burst; events it accepts (call life-cycle
events) are always queued, so a call still ends right. Nothing blocks the reader.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ccd.log import get_logger

log = get_logger(__name__)

E = TypeVar("E")


class KeyedDispatcher(Generic[E]):
    def __init__(
        self,
        handler: Callable[[E], Awaitable[None]],
        *,
        max_pending: int = 1000,
        must_deliver: Callable[[E], bool] = lambda _e: True,
        name: str = "dispatch",
    ) -> None:
        self._handler = handler
        self._max_pending = max_pending
        self._must_deliver = must_deliver
        self._name = name
        self._queues: dict[str, deque[E]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._overflowing: set[str] = set()
        self.dropped = 0
        self._closed = False

    def submit(self, key: str, event: E) -> None:
        """Queue an event for its key; never blocks, never raises."""
        if self._closed:
            return
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        if len(queue) >= self._max_pending and not self._must_deliver(event):
            self.dropped += 1
            if key not in self._overflowing:
                self._overflowing.add(key)
                log.warning("dispatch.overflow", dispatcher=self._name, key=key, pending=len(queue))
            return
        queue.append(event)
        if key not in self._workers:
            self._workers[key] = asyncio.get_running_loop().create_task(
                self._drain(key, queue), name=f"{self._name}:{key}"
            )

    async def _drain(self, key: str, queue: deque[E]) -> None:
        try:
            while queue:
                event = queue.popleft()
                try:
                    await self._handler(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("dispatch.handler_failed", dispatcher=self._name, key=key)
        finally:
            del self._workers[key]
            if not queue:
                self._queues.pop(key, None)
            self._overflowing.discard(key)

    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def drain(self) -> None:
        """Wait until every queued event has been handled (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()
