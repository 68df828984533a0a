"""Our predictive pacer: Erlang C for the steady rate, the live snapshot for the timing, and
feedback from realised drops so the campaign's cumulative abandon rate stays under target.

Per decision:
1. Erlang C plan. With N staffed agents and the learned handle time h, the largest
   answered-call rate λ whose P(wait > 2 s) stays under the current risk level; kept up by
   holding λ / p_answer × mean ring time calls ringing (Little's law).
2. Live balance. Over the horizon in which a new call would be answered, the agents that
   will be free (ready now, plus talking/wrapping agents whose elapsed times say they are
   about to finish) against the answers that will need them (answered waiting, calls
   already ringing weighted by P(answer | rung this long), and the new calls). With both
   sides as sums of Bernoullis (normal approximation), the expected overflow per expected
   answer estimates the drop rate; place the most calls that keep it under the risk level.
3. Feedback. The risk level moves after every answered call toward a realised drop rate
   just under target (a stochastic-approximation step), and shrinks to plain power dialing
   whenever the campaign's drop budget (target × answered − dropped) runs short.
The answer is the larger of plan and balance, never fewer than power dialing, never more
than max_ratio lines per staffed agent nor the free lines.
"""

from __future__ import annotations

import math

import numpy as np

from ccd.pacing.base import DROP_AFTER_S, PacingSnapshot, clamp_calls
from ccd.pacing.erlang import prob_wait_longer
from ccd.pacing.estimate import Durations, FloatArray, RingModel

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_CURVE_POINTS = 400


def expected_overflow(mean: float, var: float) -> float:
    """E[max(X, 0)] for X ~ Normal(mean, var)."""
    if var <= 1e-12:
        return max(mean, 0.0)
    sd = math.sqrt(var)
    z = mean / sd
    return sd * _INV_SQRT_2PI * math.exp(-0.5 * z * z) + mean * 0.5 * (1.0 + math.erf(z / _SQRT2))


class ErlangPacer:
    def __init__(
        self,
        target_abandon: float = 0.03,
        max_ratio: float = 3.0,
        margin: float = 0.85,
        learning_rate: float = 0.1,
        prior_answer: float = 0.25,
        prior_talk_s: float = 120.0,
        prior_wrap_s: float = 15.0,
        prior_ring_s: float = 8.0,
        prior_give_up_s: float = 25.0,
    ) -> None:
        if not 0.0 < target_abandon < 0.5:
            raise ValueError(f"target_abandon must be between 0 and 0.5, got {target_abandon}")
        if not 1.0 <= max_ratio <= 20.0:
            raise ValueError(f"max_ratio must be between 1 and 20, got {max_ratio}")
        if not 0.0 < margin <= 1.0:
            raise ValueError(f"margin must be in (0, 1], got {margin}")
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
        if not 0.0 < prior_answer <= 1.0:
            raise ValueError(f"prior_answer must be in (0, 1], got {prior_answer}")
        for name, v in (("prior_talk_s", prior_talk_s), ("prior_wrap_s", prior_wrap_s),
                        ("prior_ring_s", prior_ring_s), ("prior_give_up_s", prior_give_up_s)):
            if not v > 0:
                raise ValueError(f"{name} must be > 0, got {v}")  # fmt: skip
        self.target = target_abandon
        self.max_ratio = max_ratio
        self.goal = margin * target_abandon
        self.learning_rate = learning_rate
        self.talk = Durations(prior_talk_s, 1.0)
        self.wrap = Durations(prior_wrap_s, 0.5)
        self.ring = RingModel(prior_answer, prior_ring_s, prior_give_up_s)
        self.answered = 0
        self.dropped = 0
        self._log_risk = math.log(target_abandon)
        self._curves: dict[tuple[int, int], tuple[FloatArray, FloatArray]] = {}

    # -- feedback ---------------------------------------------------------------------------

    @property
    def risk(self) -> float:
        """The drop rate per answer currently allowed, after the drop-budget guard."""
        slack = self.target * self.answered - self.dropped
        budget = min(max((slack - 0.5) / 2.5, 0.0), 1.0)
        return math.exp(self._log_risk) * budget

    def record_answer(self, dropped: bool, now: float) -> None:
        self.answered += 1
        self.dropped += dropped
        self._log_risk += self.learning_rate * (self.goal - dropped)
        self._log_risk = min(max(self._log_risk, math.log(1e-4)), math.log(0.5))

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        self.ring.add(ring_s, answered)

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        self.talk.add(talk_s)
        self.wrap.add(wrap_s)

    # -- decision ---------------------------------------------------------------------------

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        agents = snap.agents
        room = min(snap.lines_free, math.floor(self.max_ratio * agents) - snap.lines_used)
        if agents == 0 or room <= 0:
            return 0
        power = snap.ready - len(snap.ringing) - snap.waiting
        risk = self.risk
        if risk <= 0.0:
            return clamp_calls(min(power, room), snap)
        p = self.ring.answer_rate
        want = max(power, self._balance(snap, p, risk, room), self._plan(snap, p, risk))
        return clamp_calls(min(want, room), snap)

    def _plan(self, snap: PacingSnapshot, p: float, risk: float) -> int:
        agents = snap.agents
        handle = self.talk.mean + self.wrap.mean
        load = self._max_load(agents, handle, risk)
        ringing = load / handle / p * self.ring.ring_time
        return math.floor(ringing) - len(snap.ringing) - snap.waiting

    def _max_load(self, agents: int, handle: float, risk: float) -> float:
        """Erlang C: the largest load with P(wait > 2 s) <= risk, from a cached curve."""
        step = max(1.0, round(handle / 40))  # handle times 2.5 % apart share a curve
        key = (agents, round(handle / step))
        curve = self._curves.get(key)
        if curve is None:
            loads = np.linspace(0.0, agents, _CURVE_POINTS, endpoint=False)
            wait = prob_wait_longer(agents, loads, DROP_AFTER_S, key[1] * step)
            curve = (loads, np.asarray(wait))
            self._curves[key] = curve
        loads, wait = curve
        return float(loads[max(int(np.searchsorted(wait, risk, side="right")) - 1, 0)])

    def _balance(self, snap: PacingSnapshot, p: float, risk: float, room: int) -> int:
        horizon = self.ring.answer_time + DROP_AFTER_S
        supply = float(snap.ready)
        supply_var = 0.0
        if snap.talking:
            f = self.talk.done_within(np.asarray(snap.talking), horizon - self.wrap.mean)
            supply += float(f.sum())
            supply_var += float((f * (1.0 - f)).sum())
        if snap.wrapping:
            f = self.wrap.done_within(np.asarray(snap.wrapping), horizon)
            supply += float(f.sum())
            supply_var += float((f * (1.0 - f)).sum())
        demand = float(snap.waiting)
        demand_var = 0.0
        if snap.ringing:
            q = self.ring.answer_given_ringing(np.asarray(snap.ringing))
            demand += float(q.sum())
            demand_var += float((q * (1.0 - q)).sum())

        def ok(n: int) -> bool:
            mean = demand + n * p
            if mean <= 0.0:
                return True
            over = expected_overflow(mean - supply, demand_var + supply_var + n * p * (1 - p))
            return over <= risk * mean

        if not ok(1):
            return 0
        lo, hi = 1, room  # ok(lo) holds; find the largest n <= room that stays ok
        if ok(hi):
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
        return lo
