"""A send-rate limit that no one-second window ever exceeds.

A token bucket lets a full bucket plus its refill through within one second (up to twice the
rate); this limiter keeps the times of the last `tps` sends instead and lets the next one go
only once the oldest of them is `span` seconds old, so any window of `span` seconds holds at
most `tps` sends. `span` is a little over one second so that the SMSC, which sees our PDUs
after a loopback or network jitter of a few milliseconds, still never counts more.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class SendRate:
    def __init__(self, tps: int | None, *, span: float = 1.02) -> None:
        self.tps = tps
        self.span = span
        self._sent: deque[float] = deque(maxlen=tps or 1)
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more send keeps every window within tps; counts that send."""
        if not self.tps:
            return
        async with self._lock:  # FIFO: senders go in the order they asked
            while len(self._sent) == self.tps:
                delay = self._sent[0] + self.span - time.monotonic()
                if delay <= 0:
                    break
                await asyncio.sleep(delay)
            self._sent.append(time.monotonic())


def max_per_window(times: list[float], span: float = 1.0) -> int:
    """The most events within any half-open window [t, t + span) of sorted times."""
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= span:
            start += 1
        best = max(best, end - start + 1)
    return best
