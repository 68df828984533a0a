"""Online estimates for pacing: recent samples in a sliding window, seeded with a prior.

A window of the last K samples forgets old behaviour (answer rates move through the day)
and answers conditional questions from elapsed times without assuming a distribution. A
few prior samples, spread over a lognormal's quantiles, stand in until real ones arrive
and are pushed out by them. The sorted view is rebuilt once a few percent of the window is
new, not per sample: pacing is asked every second and one sample barely moves the answer.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

# Rebuild the sorted view after this fraction (1/N) of the window is new.
_REFRESH_SHARE = 20


def lognormal_quantiles(mean: float, cv: float, n: int) -> list[float]:
    """n evenly spaced quantiles of the lognormal with this mean and coefficient of variation."""
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - sigma * sigma / 2
    unit = NormalDist()
    return [math.exp(mu + sigma * unit.inv_cdf((i + 0.5) / n)) for i in range(n)]


class Durations:
    """Recent durations (talk, wrap-up): mean, and P(done within h | elapsed e)."""

    def __init__(self, prior_mean: float, prior_cv: float, prior_n: int = 20, window: int = 400):
        self._window: deque[float] = deque(lognormal_quantiles(prior_mean, prior_cv, prior_n),
                                           maxlen=window)  # fmt: skip
        self._refresh_every = max(1, window // _REFRESH_SHARE)
        self._new = 0
        self.version = 0  # bumps whenever the estimates change
        self.seen = 0  # real samples added (the prior ones not counted)
        self._rebuild()

    def _rebuild(self) -> None:
        self._sorted = np.sort(np.fromiter(self._window, dtype=np.float64))
        self._mean = float(self._sorted.mean())
        self._new = 0
        self.version += 1

    def add(self, x: float) -> None:
        self._window.append(x)
        self.seen += 1
        self._new += 1
        if self._new >= self._refresh_every:
            self._rebuild()

    @property
    def mean(self) -> float:
        return self._mean

    @property
    def longest(self) -> float:
        return float(self._sorted[-1])

    def done_within(self, elapsed: FloatArray, h: FloatArray | float) -> FloatArray:
        """P(X <= e + h | X > e), broadcast over elapsed e and horizon h (h <= 0 gives 0).

        Counts of longer samples, with one pseudo-sample that ends at the memoryless rate
        1 - exp(-h / mean): it carries the estimate past the longest sample seen.
        """
        h = np.maximum(h, 0.0)
        s = self._sorted
        beyond_e = len(s) - np.searchsorted(s, elapsed, side="right")
        beyond_eh = len(s) - np.searchsorted(s, elapsed + h, side="right")
        tail = 1.0 - np.exp(-h / self._mean)
        # Annotated: numpy types the quotient Any when h is a float.
        done: FloatArray = (beyond_e - beyond_eh + tail) / (beyond_e + 1.0)
        return done


class RingModel:
    """Recent ring outcomes: answer probability, time to answer, and P(answer | still ringing)."""

    def __init__(
        self,
        prior_answer: float,
        prior_answer_s: float,
        prior_give_up_s: float,
        prior_n: int = 40,
        window: int = 1000,
    ):
        n_ans = max(1, round(prior_answer * prior_n))
        times = lognormal_quantiles(prior_answer_s, 0.5, n_ans)
        times += [prior_give_up_s] * (prior_n - n_ans)
        self._times: deque[float] = deque(times, maxlen=window)
        self._answered: deque[bool] = deque([True] * n_ans + [False] * (prior_n - n_ans),
                                            maxlen=window)  # fmt: skip
        self._refresh_every = max(1, window // _REFRESH_SHARE)
        self._new = 0
        self.version = 0  # bumps whenever the estimates change
        self.seen = 0  # real samples added (the prior ones not counted)
        self._rebuild()

    def _rebuild(self) -> None:
        times = np.fromiter(self._times, dtype=np.float64)
        answered = np.fromiter(self._answered, dtype=bool)
        self._cache = (np.sort(times), np.sort(times[answered]))
        self._new = 0
        self.version += 1

    def add(self, ring_s: float, answered: bool) -> None:
        self._times.append(ring_s)
        self._answered.append(answered)
        self.seen += 1
        self._new += 1
        if self._new >= self._refresh_every:
            self._rebuild()

    @property
    def answer_rate(self) -> float:
        every, ans = self._cache
        return len(ans) / len(every)

    @property
    def answer_time(self) -> float:
        """Mean ring seconds of calls a person answered."""
        _, ans = self._cache
        return float(ans.mean()) if len(ans) else 0.0

    @property
    def longest(self) -> float:
        return float(self._cache[0][-1])

    @property
    def ring_time(self) -> float:
        """Mean ring seconds of every call, answered or not."""
        every, _ = self._cache
        return float(every.mean())

    def answer_within(self, elapsed: FloatArray, h: FloatArray) -> FloatArray:
        """P(a person answers within the next h s | rung e s unanswered), broadcast over e, h.

        One pseudo-call answering at the overall rate keeps long-ringing calls above zero.
        """
        every, ans = self._cache
        still = len(every) - np.searchsorted(every, elapsed, side="right")
        will = np.searchsorted(ans, elapsed + h, side="right") - np.searchsorted(
            ans, elapsed, side="right"
        )
        overall = np.searchsorted(ans, h, side="right") / len(every)
        return (will + overall) / (still + 1.0)
