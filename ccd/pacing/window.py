"""The abandon rate over a rolling window, as regulators count it (pure, no I/O).

A campaign's abandon limit holds over a span of time (30 days per campaign under the US rule,
each 24 h under the UK one), not over one run of the dialer. The store counts the answers and
drops of the window that came before the pacer started; the pacer adds its own, in minute
buckets that fall out of the window as it rolls on.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol, runtime_checkable

_BUCKET_S = 60.0


@runtime_checkable
class WindowedPacer(Protocol):
    """A pacer that holds the abandon rate over the campaign's window, not only its run."""

    def count_window(self, answered: int, dropped: int, span_s: float, now: float) -> None:
        """The campaign's answers and drops within the last span_s seconds from before this
        pacer started; the pacer adds the answers it is told of from then on."""
        ...


class AnswerWindow:
    """Answers and drops within a rolling span: earlier ones given as counts, own ones in
    minute buckets. With no span given the window never forgets (one run's totals)."""

    def __init__(self) -> None:
        self.span_s = math.inf
        self._before = (0, 0)  # answered, dropped from before the pacer started
        self._buckets: deque[list[float]] = deque()  # [bucket start, answered, dropped]
        self._own = [0, 0]

    def set_before(self, answered: int, dropped: int, span_s: float, now: float) -> None:
        if answered < 0 or dropped < 0 or dropped > answered:
            raise ValueError(f"need 0 <= dropped <= answered, got {dropped} of {answered}")
        if not span_s > 0:
            raise ValueError(f"span_s must be > 0, got {span_s}")
        self._before = (answered, dropped)
        self.span_s = span_s
        self._expire(now)

    def add(self, dropped: bool, now: float) -> None:
        start = now - now % _BUCKET_S
        if not self._buckets or self._buckets[-1][0] != start:
            self._buckets.append([start, 0, 0])
        last = self._buckets[-1]
        last[1] += 1
        last[2] += dropped
        self._own[0] += 1
        self._own[1] += dropped
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] + _BUCKET_S <= now - self.span_s:
            _, a, d = self._buckets.popleft()
            self._own[0] -= int(a)
            self._own[1] -= int(d)

    @property
    def answered(self) -> int:
        return self._before[0] + self._own[0]

    @property
    def dropped(self) -> int:
        return self._before[1] + self._own[1]
