"""Our predictive pacer: a live balance of answers against free agents, calibrated by the
realised drops so the campaign's cumulative abandon rate stays under target, with Erlang C
for the warm-up.

Per decision (every second):
1. Live balance. Second by second over the next 24 s: the answers that will need an agent
   by τ (answered waiting, calls already ringing weighted by P(a person answers within τ |
   rung this long), and the new calls) against the agents free by τ + 2 s (ready now, plus
   talking/wrapping agents whose elapsed times make them finish by then, from the
   distribution of recent talk and wrap times). Both sides are sums of Bernoullis (normal
   approximation). A new call answered in second τ is dropped when the answers by τ, itself
   included (first come, first served), outnumber the agents free by τ + 2 s; summed over
   its answer-time distribution that is the drop probability of the k-th new call. Place
   the most calls whose last call's drops per answer stay within the current risk level:
   a marginal rule, so a call that would probably be dropped is not hidden in an average
   with the safe ones.
2. Feedback. The risk level moves after every answered call toward a realised drop rate
   (stochastic approximation: down by rate × (1 - goal) on a drop, up by rate × goal
   otherwise). The goal is the target itself while the campaign's drop budget
   (target × answered − dropped) holds more than a reserve (`reserve` drops plus
   `reserve_share` of the answers), margin × target otherwise: the budget actually left is
   spent down to the reserve instead of always aiming a fixed share under the target. The
   reserve absorbs the swings: drops of calls already ringing when the budget runs low,
   and a run ending at any moment. Under a few drops of budget the risk shrinks in
   proportion, to no less than 15 % of the learned level; only a window more than two
   drops over its limit falls back to plain power dialing. The budget counts over the
   campaign's abandon window (30 days or 24 h, as regulators count) when the engine gives
   the window's earlier counts (count_window); otherwise over this pacer's run.
3. Warm-up. Before the campaign has earned a drop budget (fewer than 1 / target answers)
   but once its own ring and talk times are measured, Erlang C gives the steady rate: the
   largest answered-call rate whose P(wait > 2 s) stays under target for N agents, kept
   up as λ / p_answer × mean ring time calls ringing (Little's law).
Never fewer calls than power dialing (one per free agent not yet covered), never more than
max_ratio lines (ringing + waiting + on a call) per staffed agent, nor the free lines.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr

from ccd.pacing.base import (
    DROP_AFTER_S,
    PacingSnapshot,
    check_max_ratio,
    clamp_calls,
    line_room,
)
from ccd.pacing.erlang import prob_wait_longer
from ccd.pacing.estimate import Durations, FloatArray, RingModel
from ccd.pacing.window import AnswerWindow

_CURVE_POINTS = 400
# Warm-up pacing from Erlang C waits for this many ring outcomes and finished calls.
_MEASURED_RINGS = 50
_MEASURED_CALLS = 10
# Seconds ahead at which answers and free agents are balanced: every second, as a new call's
# drop probability is summed over its answer-time distribution; 24 s covers ring times.
_HORIZONS = np.arange(1.0, 25.0)
_ZERO = np.zeros(len(_HORIZONS))
_COUNTS = np.arange(100_000, dtype=np.float64)  # candidate numbers of new calls
# The drop-budget guard scales the learned risk by budget / _FULL_BUDGET drops, down to
# _RISK_FLOOR of it: cutting to power dialing when the budget ran out idled half the agents
# for minutes (and the rebound overshot), while the feedback alone, aiming under the target
# then, earns the budget back. A window more than _OVERDRAWN drops over its limit (a run
# starting after a bad one) is power-dialed until answers pay the drops back.
_FULL_BUDGET = 6.0
_RISK_FLOOR = 0.15
_OVERDRAWN = 2.0


class ErlangPacer:
    """The "erlang" pacer.

    target_abandon: the campaign's limit on dropped / answered; margin: the feedback aims
    at margin × target while the drop budget is under `reserve` drops plus `reserve_share`
    of the answers, at the target above that; learning_rate:
    the feedback's step per answered call; max_ratio: lines per staffed agent; prior_*: the
    cold-start estimates, pushed out by real calls.
    """

    def __init__(
        self,
        target_abandon: float = 0.03,
        max_ratio: float = 3.0,
        margin: float = 0.85,
        learning_rate: float = 0.25,
        reserve: float = 8.0,
        reserve_share: float = 0.0005,
        prior_answer: float = 0.25,
        prior_talk_s: float = 120.0,
        prior_wrap_s: float = 15.0,
        prior_ring_s: float = 8.0,
        prior_give_up_s: float = 25.0,
    ) -> None:
        if not 0.0 < target_abandon < 0.5:
            raise ValueError(f"target_abandon must be between 0 and 0.5, got {target_abandon}")
        check_max_ratio(max_ratio)
        if not 0.0 < margin <= 1.0:
            raise ValueError(f"margin must be in (0, 1], got {margin}")
        if not 0.0 < learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {learning_rate}")
        if not reserve >= 0.0:
            raise ValueError(f"reserve must be >= 0, got {reserve}")
        if not 0.0 <= reserve_share < target_abandon:
            raise ValueError(
                f"reserve_share must be >= 0 and under target_abandon, got {reserve_share}"
            )
        if not 0.0 < prior_answer <= 1.0:
            raise ValueError(f"prior_answer must be in (0, 1], got {prior_answer}")
        for name, v in (
            ("prior_talk_s", prior_talk_s),
            ("prior_wrap_s", prior_wrap_s),
            ("prior_ring_s", prior_ring_s),
            ("prior_give_up_s", prior_give_up_s),
        ):
            if not v > 0:
                raise ValueError(f"{name} must be > 0, got {v}")
        self.target = target_abandon
        self.max_ratio = max_ratio
        self.margin = margin
        self.reserve = reserve
        self.reserve_share = reserve_share
        self.learning_rate = learning_rate
        self.talk = Durations(prior_talk_s, 1.0)
        self.wrap = Durations(prior_wrap_s, 0.5)
        self.ring = RingModel(prior_answer, prior_ring_s, prior_give_up_s)
        self.answered = 0  # this run's
        self.dropped = 0
        self.window = AnswerWindow()
        # the marginal rule's drop chances match what happens (tests/pacing), so the feedback
        # starts at the target itself
        self._log_risk = math.log(target_abandon)
        self._curves: dict[tuple[int, int], tuple[FloatArray, FloatArray]] = {}
        self._tables_cache: _Tables | None = None

    # -- feedback ---------------------------------------------------------------------------

    @property
    def slack(self) -> float:
        """The drop budget left in the abandon window: target × answered − dropped."""
        return self.target * self.window.answered - self.window.dropped

    @property
    def risk(self) -> float:
        """The drop rate per answer currently allowed, after the drop-budget guard: the
        learned level, scaled down while the budget holds under _FULL_BUDGET drops but never
        under _RISK_FLOOR of it; none before the window has earned a drop, or once it is
        more than _OVERDRAWN drops over its limit."""
        slack = self.slack
        if self.window.answered * self.target < 1.0 or slack < -_OVERDRAWN:
            return 0.0
        share = min(max(slack / _FULL_BUDGET, _RISK_FLOOR), 1.0)
        return math.exp(self._log_risk) * share

    @property
    def goal(self) -> float:
        """The drop rate the feedback aims at: the target while the budget holds more than
        the reserve, margin × target otherwise."""
        reserve = self.reserve + self.reserve_share * self.window.answered
        return self.target if self.slack > reserve else self.margin * self.target

    def record_answer(self, dropped: bool, now: float) -> None:
        self.answered += 1
        self.dropped += dropped
        self.window.add(dropped, now)
        self._log_risk += self.learning_rate * (self.goal - dropped)
        self._log_risk = min(max(self._log_risk, math.log(1e-4)), math.log(0.5))

    def count_window(self, answered: int, dropped: int, span_s: float, now: float) -> None:
        """The campaign's answers and drops within span_s from before this pacer started."""
        self.window.set_before(answered, dropped, span_s, now)

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        self.ring.add(ring_s, answered)

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        self.talk.add(talk_s)
        self.wrap.add(wrap_s)

    # -- decision ---------------------------------------------------------------------------

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        agents = snap.agents
        room = min(snap.lines_free, line_room(snap, self.max_ratio))
        if agents == 0 or room <= 0:
            return 0
        power = snap.ready - len(snap.ringing) - snap.waiting
        risk = self.risk
        if risk > 0.0:
            want = max(power, self._balance(snap, risk, room))
        elif self.window.answered * self.target < 1.0 and self._measured():
            # warm-up, no drop budget yet: Erlang C's steady rate at the target (safe for
            # Poisson arrivals) from measured rates, until feedback has calibrated the balance
            want = max(power, self._plan(snap))
        else:
            want = power  # the window is over its limit: no overdial until answers pay it back
        return clamp_calls(min(want, room), snap)

    def _measured(self) -> bool:
        """Enough of this campaign's own calls seen that the estimates are not the priors."""
        return self.ring.seen >= _MEASURED_RINGS and self.talk.seen >= _MEASURED_CALLS

    def _plan(self, snap: PacingSnapshot) -> int:
        """Calls to keep ringing for Erlang C's answered-call rate at the abandon target."""
        handle = self.talk.mean + self.wrap.mean
        load = self._max_load(snap.agents, handle, self.target)
        ringing = load / handle / self.ring.answer_rate * self.ring.ring_time
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

    def _tables(self) -> _Tables:
        version = (self.talk.version, self.wrap.version, self.ring.version)
        if self._tables_cache is None or self._tables_cache.version != version:
            self._tables_cache = _Tables(version, self.talk, self.wrap, self.ring)
        return self._tables_cache

    def _balance(self, snap: PacingSnapshot, risk: float, room: int) -> int:
        """Most new calls whose last one's drop probability per answer stays <= risk.

        The k-th new call, answered in second τ, finds no agent when the answers by τ
        (waiting, ringing, the k - 1 other new calls and itself) outnumber the agents free
        by τ + 2 s: P(answers - agents >= 0) before it is added, summed over τ with the
        probability that it is answered in that second.
        """
        tb = self._tables()
        parts = [
            _rows(elapsed, first, last)
            for elapsed, first, last in (
                (snap.talking, 0, tb.talk_last),
                (snap.wrapping, tb.wrap_first, tb.wrap_last),
                (snap.ringing, tb.ring_first, tb.ring_last),
            )
            if elapsed
        ]
        if parts:
            free, var, ringing = tb.table[np.concatenate(parts)].sum(axis=0)
        else:
            free = var = ringing = _ZERO
        shortfall = snap.waiting + ringing - snap.ready - free  # answers minus agents, by τ
        new, new_var = tb.new_call
        allowed = risk * new[-1]
        if _drop_chance(shortfall, var, tb.answer_in) > allowed:
            return 0  # the usual case between bursts, decided without the grid below
        enough = (4.0 + 4.0 * math.sqrt(var[-1]) - shortfall[-1]) / max(new[-1], 1e-3)
        others = _COUNTS[: min(room, max(int(enough), 1))]  # other new calls, per candidate
        mean = shortfall[:, None] + new[:, None] * others
        var_k = var[:, None] + new_var[:, None] * others
        ok = _drop_chance(mean, var_k, tb.answer_in[:, None]) <= allowed
        # the marginal call's drops rise with the count: the leading ok candidates
        return int(np.argmin(ok)) if not ok.all() else len(others)


def _rows(elapsed: tuple[float, ...], first: int, last: int) -> NDArray[np.intp]:
    """Table rows for elapsed times: whole seconds, past the table's end on its last row."""
    return np.minimum(np.asarray(elapsed).astype(np.intp), last) + first


def _drop_chance(mean: FloatArray, var: FloatArray, answer_in: FloatArray) -> FloatArray:
    """P(a new call is answered and finds no agent), summed over the horizons (axis 0).

    mean/var: answers minus agents free by each horizon before the call; the count is whole,
    so P(>= 0) is taken at -0.5 (continuity correction, a quarter added to the variance).
    """
    found_none: FloatArray = ndtr((mean + 0.5) / np.sqrt(var + 0.25))
    chance: FloatArray = (answer_in * found_none).sum(axis=0)
    return chance


class _Tables:
    """Per-second lookup rows of the estimates the balance sums, rebuilt when they change.

    Row e of each part holds, per horizon τ, three channels: P(free by τ + 2 s) for an
    agent talking or wrapping for e s (with its variance p(1 - p)), and for a call ringing
    e s the probability q that a person answers within τ, as (0, q(1 - q), q).
    """

    def __init__(self, version: tuple[int, int, int], talk: Durations, wrap: Durations,
                 ring: RingModel) -> None:  # fmt: skip
        self.version = version
        reach = _HORIZONS + DROP_AFTER_S
        e = np.arange(math.ceil(talk.longest) + 2, dtype=np.float64)[:, None]
        f_talk = talk.done_within(e, reach - wrap.mean)
        e = np.arange(math.ceil(wrap.longest) + 2, dtype=np.float64)[:, None]
        f_wrap = wrap.done_within(e, reach)
        e = np.arange(math.ceil(ring.longest) + 2, dtype=np.float64)[:, None]
        q = ring.answer_within(e, _HORIZONS)
        zero = np.zeros_like(q)
        self.table = np.concatenate(
            [
                np.stack([f_talk, f_talk * (1 - f_talk), np.zeros_like(f_talk)], axis=1),
                np.stack([f_wrap, f_wrap * (1 - f_wrap), np.zeros_like(f_wrap)], axis=1),
                np.stack([zero, q * (1 - q), q], axis=1),
            ]
        )
        self.talk_last = len(f_talk) - 1
        self.wrap_first = len(f_talk)
        self.wrap_last = len(f_wrap) - 1
        self.ring_first = len(f_talk) + len(f_wrap)
        self.ring_last = len(q) - 1
        self.new_call = (q[0], q[0] * (1 - q[0]))
        self.answer_in = np.diff(q[0], prepend=0.0)  # a new call answered in each second
