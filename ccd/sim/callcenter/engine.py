"""Discrete-event simulation of one outbound campaign driven by a Pacer.

Time is in seconds from the start of the day. The pacer is asked every simulated second;
everything else happens at event times from a heap. Randomness comes from separate seeded
streams (lead outcomes, talk times, wrap-up times), so a seed gives the same day every run
and pacers compared on one seed meet the same leads in the same order.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass

from ccd.pacing.base import Pacer, PacingSnapshot
from ccd.sim.callcenter.scenario import Scenario

# Event kinds, in heap entries (time, seq, kind, subject).
_RING_END, _DROP, _TALK_END, _WRAP_END, _LOGIN, _LOGOUT, _BREAK, _BREAK_END = range(8)
# Agent states.
_OFF, _READY, _TALK, _WRAP, _AWAY = range(5)
# Call fates, fixed when the call is placed.
_PERSON, _MACHINE, _NOBODY = range(3)
_UNLIMITED_LINES = 1_000_000


class PacerContractError(RuntimeError):
    """The pacer answered outside its contract (negative, or more calls than free lines)."""


@dataclass(frozen=True, slots=True)
class Bucket:
    end_s: float
    occupancy: float  # talk agent-seconds / staffed agent-seconds within the bucket
    abandon: float  # cumulative dropped / answered at the bucket's end


@dataclass(frozen=True, slots=True)
class SimResult:
    pacer: str
    hours: float
    attempts: int
    answered: int  # a person answered
    dropped: int  # answered, no agent within drop_after_s
    machines: int
    talk_s: float
    wrap_s: float
    idle_s: float  # agents ready with nothing to do
    staffed_s: float  # logged in and not on a break
    events: int  # events the simulation processed, pacer ticks included
    timeline: tuple[Bucket, ...]

    @property
    def abandon(self) -> float:
        return self.dropped / self.answered if self.answered else 0.0

    @property
    def occupancy(self) -> float:
        """Talk occupancy: talk seconds per staffed second."""
        return self.talk_s / self.staffed_s if self.staffed_s else 0.0

    @property
    def idle_min_per_agent_hour(self) -> float:
        return 60.0 * self.idle_s / self.staffed_s if self.staffed_s else 0.0


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    if cv == 0:
        return mean
    sigma2 = math.log1p(cv * cv)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


class _Day:
    """The mutable state of one simulated day."""

    def __init__(self, sc: Scenario, pacer: Pacer) -> None:
        self.sc = sc
        self.pacer = pacer
        self.end = sc.hours * 3600.0
        self.leads = random.Random(f"{sc.seed}/leads")
        self.talks = random.Random(f"{sc.seed}/talk")
        self.wraps = random.Random(f"{sc.seed}/wrap")
        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0
        self.lines = sc.lines or _UNLIMITED_LINES
        # agents
        self.state: list[int] = []
        self.since: list[float] = []
        self.logout_at: list[float] = []
        self.break_due: list[bool] = []
        self.call_talk: list[float] = []  # talk seconds of the agent's current call
        self.ready: deque[int] = deque()  # longest idle first
        self.talking: dict[int, float] = {}  # agent -> talk start
        self.wrapping: dict[int, float] = {}  # agent -> wrap start
        # calls
        self.ringing: dict[int, float] = {}  # call -> placed at
        self.fate: dict[int, int] = {}
        self.waiting: dict[int, float] = {}  # call -> answered at, oldest first
        self.next_call = 0
        # totals
        self.attempts = self.answered = self.dropped = self.machines = 0
        self.state_s = [0.0] * 5
        n_buckets = math.ceil(self.end / sc.bucket_s)
        self.b_talk = [0] * n_buckets
        self.b_staffed = [0] * n_buckets
        self.b_answered = [0] * n_buckets
        self.b_dropped = [0] * n_buckets
        self._staff()

    def push(self, t: float, kind: int, subject: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, subject))

    def _staff(self) -> None:
        sc = self.sc
        for shift in sc.staff:
            for i in range(shift.agents):
                a = len(self.state)
                self.state.append(_OFF)
                self.since.append(0.0)
                self.logout_at.append(shift.end_h * 3600.0)
                self.break_due.append(False)
                self.call_talk.append(0.0)
                start = shift.start_h * 3600.0
                self.push(start, _LOGIN, a)
                self.push(shift.end_h * 3600.0, _LOGOUT, a)
                if sc.break_every_h > 0:
                    every = sc.break_every_h * 3600.0
                    t = start + every * (0.5 + i / shift.agents)
                    while t < shift.end_h * 3600.0:
                        self.push(t, _BREAK, a)
                        t += every

    def set_state(self, a: int, state: int, now: float) -> None:
        self.state_s[self.state[a]] += now - self.since[a]
        self.state[a] = state
        self.since[a] = now

    # -- agents -----------------------------------------------------------------------------

    def agent_free(self, a: int, now: float) -> None:
        """Agent a is done with whatever it did: log off, take a break, or take a call."""
        if now >= self.logout_at[a]:
            self.set_state(a, _OFF, now)
        elif self.break_due[a]:
            self.break_due[a] = False
            self.set_state(a, _AWAY, now)
            self.push(now + self.sc.break_min * 60.0, _BREAK_END, a)
        elif self.waiting:
            call = next(iter(self.waiting))
            del self.waiting[call]
            self.pacer.record_answer(False, now)
            self.start_talk(a, now)
        else:
            self.set_state(a, _READY, now)
            self.ready.append(a)

    def start_talk(self, a: int, now: float) -> None:
        self.set_state(a, _TALK, now)
        self.talking[a] = now
        talk = _lognormal(self.talks, self.sc.talk_s, self.sc.talk_cv)
        self.call_talk[a] = talk
        self.push(now + talk, _TALK_END, a)

    def leave(self, a: int, now: float, kind: int) -> None:
        """Logout or break time: a ready agent goes now, a busy one after the call."""
        if self.state[a] == _READY:
            self.ready.remove(a)
            if kind == _LOGOUT:
                self.set_state(a, _OFF, now)
            else:
                self.set_state(a, _AWAY, now)
                self.push(now + self.sc.break_min * 60.0, _BREAK_END, a)
        elif kind == _BREAK and self.state[a] in (_TALK, _WRAP):
            self.break_due[a] = True

    # -- calls ------------------------------------------------------------------------------

    def place(self, now: float) -> None:
        sc = self.sc
        call = self.next_call
        self.next_call += 1
        self.attempts += 1
        self.ringing[call] = now
        u = self.leads.random()
        p = sc.answer_rate_at(int(now // 3600))
        if u < p + sc.machine_rate:
            ring = _lognormal(self.leads, sc.ring_answer_s, sc.ring_cv)
            if ring < sc.dial_timeout_s:
                fate = _PERSON if u < p else _MACHINE
                self.fate[call] = fate
                self.push(now + ring + (sc.amd_s if fate == _MACHINE else 0.0), _RING_END, call)
                return
        elif self.leads.random() < sc.fail_rate:
            self.fate[call] = _NOBODY
            self.push(now + _lognormal(self.leads, sc.fail_s, 0.5), _RING_END, call)
            return
        self.fate[call] = _NOBODY
        self.push(now + sc.dial_timeout_s, _RING_END, call)

    def ring_end(self, call: int, now: float) -> None:
        placed = self.ringing.pop(call)
        fate = self.fate.pop(call)
        person = fate == _PERSON
        self.pacer.record_ring(now - placed, person, now)
        if fate == _MACHINE:
            self.machines += 1
        if not person:
            return
        self.answered += 1
        self.b_answered[self._bucket(now)] += 1
        if self.ready:
            self.pacer.record_answer(False, now)
            self.start_talk(self.ready.popleft(), now)
        else:
            self.waiting[call] = now
            self.push(now + self.sc.drop_after_s, _DROP, call)

    def drop(self, call: int, now: float) -> None:
        if self.waiting.pop(call, None) is None:
            return  # an agent took it in time
        self.dropped += 1
        self.b_dropped[self._bucket(now)] += 1
        self.pacer.record_answer(True, now)

    def _bucket(self, now: float) -> int:
        return min(int(now // self.sc.bucket_s), len(self.b_talk) - 1)

    # -- the loop ---------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        talking = self.talking
        wrapping = self.wrapping
        used = len(self.ringing) + len(self.waiting) + len(talking)
        snap = PacingSnapshot(
            now=now,
            ready=len(self.ready),
            talking=tuple([now - t for t in talking.values()]),
            wrapping=tuple([now - t for t in wrapping.values()]),
            ringing=tuple([now - t for t in self.ringing.values()]),
            waiting=len(self.waiting),
            lines_free=self.lines - used,
        )
        n = self.pacer.calls_to_place(snap)
        if not 0 <= n <= snap.lines_free:
            raise PacerContractError(
                f"calls_to_place returned {n!r} with {snap.lines_free} lines free at t={now}"
            )
        for _ in range(n):
            self.place(now)
        b = self._bucket(now)
        self.b_talk[b] += len(talking)
        self.b_staffed[b] += len(self.ready) + len(talking) + len(wrapping)

    def handle(self, now: float, kind: int, subject: int) -> None:
        if kind == _RING_END:
            self.ring_end(subject, now)
        elif kind == _DROP:
            self.drop(subject, now)
        elif kind == _TALK_END:
            del self.talking[subject]
            self.set_state(subject, _WRAP, now)
            self.wrapping[subject] = now
            self.push(now + _lognormal(self.wraps, self.sc.wrap_s, self.sc.wrap_cv), _WRAP_END,
                      subject)  # fmt: skip
        elif kind == _WRAP_END:
            started = self.wrapping.pop(subject)
            self.pacer.record_call(self.call_talk[subject], now - started, now)
            self.agent_free(subject, now)
        elif kind in (_LOGIN, _BREAK_END):
            self.agent_free(subject, now)
        else:
            self.leave(subject, now, kind)

    def run(self) -> None:
        heap = self.heap
        pop = heapq.heappop
        handle = self.handle
        end = self.end
        t = 0.0
        while t < end:
            while heap and heap[0][0] <= t:
                when, _, kind, subject = pop(heap)
                handle(when, kind, subject)
            self.tick(t)
            t += 1.0
        while heap and heap[0][0] <= end:
            when, _, kind, subject = pop(heap)
            handle(when, kind, subject)
        for a in range(len(self.state)):
            self.set_state(a, self.state[a], end)

    def result(self, pacer_name: str) -> SimResult:
        s = self.state_s
        timeline = []
        answered = dropped = 0
        for i in range(len(self.b_talk)):
            answered += self.b_answered[i]
            dropped += self.b_dropped[i]
            staffed = self.b_staffed[i]
            timeline.append(
                Bucket(
                    end_s=min((i + 1) * self.sc.bucket_s, self.end),
                    occupancy=self.b_talk[i] / staffed if staffed else 0.0,
                    abandon=dropped / answered if answered else 0.0,
                )
            )
        return SimResult(
            pacer=pacer_name,
            hours=self.sc.hours,
            attempts=self.attempts,
            answered=self.answered,
            dropped=self.dropped,
            machines=self.machines,
            talk_s=s[_TALK],
            wrap_s=s[_WRAP],
            idle_s=s[_READY],
            staffed_s=s[_READY] + s[_TALK] + s[_WRAP],
            events=self.seq + int(self.end),
            timeline=tuple(timeline),
        )


def simulate(scenario: Scenario, pacer: Pacer, pacer_name: str = "") -> SimResult:
    """Run one simulated day of `scenario` under `pacer` (which it feeds and consumes)."""
    day = _Day(scenario, pacer)
    day.run()
    return day.result(pacer_name or type(pacer).__name__)
