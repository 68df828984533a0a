"""The VICIdial-style adaptive baseline, re-implemented from its published behaviour.

Every cycle (2.5 s) it places round(L × (ready + talking)) minus the calls it already has
(ringing, answered waiting, with agents). Every 15 s it moves the dial level L by the
averaged share of idle agents, L ← L × (1 + (ready_avg − waiting_avg) / agents_avg), within
[1, max_level]. Drops halve L: when the day's drops pass the drop limit (once over 50
answered calls), and when more than half of the last minute's answered calls (over 20)
dropped.
"""

from __future__ import annotations

from collections import deque

from ccd.pacing.base import PacingSnapshot, clamp_calls

CYCLE_S = 2.5
ADAPT_S = 15.0
SAMPLES = 15
MIN_LEVEL = 1.0
DAY_MIN_ANSWERED = 50
MINUTE_MIN_ANSWERED = 20


class VicidialPacer:
    def __init__(self, max_level: float = 3.0, drop_limit: float = 0.03) -> None:
        if not MIN_LEVEL <= max_level <= 20.0:
            raise ValueError(f"max_level must be between 1 and 20, got {max_level}")
        if not 0.0 < drop_limit < 1.0:
            raise ValueError(f"drop_limit must be between 0 and 1, got {drop_limit}")
        self.max_level = max_level
        self.drop_limit = drop_limit
        self.level = MIN_LEVEL
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=SAMPLES)
        self._next_cycle: float | None = None
        self._next_adapt: float | None = None
        self._answered = 0
        self._dropped = 0
        self._minute: deque[tuple[float, bool]] = deque()

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        self._samples.append((snap.ready, snap.waiting, snap.agents))
        if self._next_cycle is None:
            self._next_cycle = snap.now
            self._next_adapt = snap.now + ADAPT_S
        assert self._next_adapt is not None
        if snap.now >= self._next_adapt:
            self._adapt(snap.now)
            self._next_adapt += ADAPT_S
        if snap.now < self._next_cycle:
            return 0
        self._next_cycle += CYCLE_S
        active = snap.ready + len(snap.talking)
        have = len(snap.ringing) + snap.waiting + len(snap.talking)
        return clamp_calls(round(self.level * active) - have, snap)

    def _adapt(self, now: float) -> None:
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        minute_drops = sum(d for _, d in self._minute)
        if (
            self._answered > DAY_MIN_ANSWERED and self._dropped > self.drop_limit * self._answered
        ) or (len(self._minute) > MINUTE_MIN_ANSWERED and minute_drops > len(self._minute) / 2):
            self.level /= 2
        elif self._samples:
            k = len(self._samples)
            ready = sum(s[0] for s in self._samples) / k
            waiting = sum(s[1] for s in self._samples) / k
            agents = sum(s[2] for s in self._samples) / k
            if agents > 0:
                self.level *= 1 + (ready - waiting) / agents
        self.level = min(max(self.level, MIN_LEVEL), self.max_level)

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        pass

    def record_answer(self, dropped: bool, now: float) -> None:
        self._answered += 1
        self._dropped += dropped
        self._minute.append((now, dropped))

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        pass
