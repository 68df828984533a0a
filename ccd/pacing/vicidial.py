"""The VICIdial-style adaptive baseline, re-implemented from its published behaviour.

Every cycle (2.5 s) it places round(L × (ready + talking)) minus the calls it already has
(ringing, answered waiting, with agents). Every 15 s it moves the dial level L by the
averaged share of idle agents, L ← L × (1 + (ready_avg − waiting_avg) / agents_avg), within
[1, max_ratio]. Drops halve L: when the day's drops pass the campaign's target abandon rate
(once over 50 answered calls), and when more than half of the last minute's answered calls
(over 20) dropped. Whatever L, the lines in use stay within max_ratio per staffed agent.
"""

from __future__ import annotations

from collections import deque

from ccd.pacing.base import PacingSnapshot, check_max_ratio, clamp_calls, line_room

CYCLE_S = 2.5
ADAPT_S = 15.0
SAMPLES = 15
MIN_LEVEL = 1.0
DAY_MIN_ANSWERED = 50
MINUTE_MIN_ANSWERED = 20


class VicidialPacer:
    def __init__(self, max_ratio: float = 3.0, target_abandon: float = 0.03) -> None:
        check_max_ratio(max_ratio)
        if not 0.0 <= target_abandon < 1.0:
            raise ValueError(f"target_abandon must be from 0 to below 1, got {target_abandon}")
        self.max_ratio = max_ratio
        self.target_abandon = target_abandon
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
        want = round(self.level * active) - have
        return clamp_calls(min(want, line_room(snap, self.max_ratio)), snap)

    def _adapt(self, now: float) -> None:
        while self._minute and self._minute[0][0] < now - 60.0:
            self._minute.popleft()
        minute_drops = sum(d for _, d in self._minute)
        day_over = self._dropped > self.target_abandon * self._answered
        if (self._answered > DAY_MIN_ANSWERED and day_over) or (
            len(self._minute) > MINUTE_MIN_ANSWERED and minute_drops > len(self._minute) / 2
        ):
            self.level /= 2
        elif self._samples:
            k = len(self._samples)
            ready = sum(s[0] for s in self._samples) / k
            waiting = sum(s[1] for s in self._samples) / k
            agents = sum(s[2] for s in self._samples) / k
            if agents > 0:
                self.level *= 1 + (ready - waiting) / agents
        self.level = min(max(self.level, MIN_LEVEL), self.max_ratio)

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        pass

    def record_answer(self, dropped: bool, now: float) -> None:
        self._answered += 1
        self._dropped += dropped
        self._minute.append((now, dropped))

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        pass
