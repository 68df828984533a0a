"""Online estimates: priors at a cold start, forgetting, conditional probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from ccd.pacing.estimate import Durations, RingModel, lognormal_quantiles


def test_lognormal_quantiles_have_the_mean() -> None:
    q = lognormal_quantiles(120.0, 1.0, 200)
    assert np.mean(q) == pytest.approx(120.0, rel=0.05)
    assert q == sorted(q)


def test_durations_prior_then_forgetting() -> None:
    d = Durations(prior_mean=120.0, prior_cv=1.0, prior_n=20, window=100)
    assert d.mean == pytest.approx(120.0, rel=0.1)
    for _ in range(100):
        d.add(60.0)
    assert d.mean == 60.0  # the window holds only real samples now
    assert d.seen == 100
    for _ in range(100):
        d.add(200.0)
    assert d.mean == 200.0  # and forgets the old ones


def test_done_within_conditions_on_elapsed_time() -> None:
    d = Durations(prior_mean=50.0, prior_cv=0.0, prior_n=1, window=1000)
    for x in range(1, 1001):
        d.add(x / 10)  # uniform on (0, 100]
    got = d.done_within(np.array([0.0, 50.0, 90.0]), 10.0)
    # P(X <= e + 10 | X > e) for uniform(0, 100): 10 / (100 - e)
    assert got == pytest.approx([0.1, 0.2, 1.0], abs=0.01)
    assert d.done_within(np.array([500.0]), 10.0)[0] == pytest.approx(1 - np.exp(-10 / d.mean))
    assert d.done_within(np.array([10.0]), -5.0)[0] == 0.0


def test_ring_model_learns_answer_rate_and_timing() -> None:
    r = RingModel(prior_answer=0.25, prior_answer_s=8.0, prior_give_up_s=25.0, window=400)
    assert r.answer_rate == pytest.approx(0.25)
    for i in range(400):
        answered = i % 2 == 0
        r.add(6.0 if answered else 25.0, answered)
    assert r.answer_rate == pytest.approx(0.5)
    assert r.answer_time == pytest.approx(6.0)
    within = r.answer_within(np.array([[0.0], [5.0], [7.0]]), np.array([2.0, 10.0]))
    # new call: answers at 6 s, so none within 2 s, half within 10 s
    assert within[0] == pytest.approx([0.0, 0.5], abs=0.01)
    # rung 5 s: 200 of the 400 still ringing will answer, all within 2 s
    assert within[1] == pytest.approx([0.5, 0.5], abs=0.01)
    # rung 7 s without an answer: it will not be answered
    assert within[2] == pytest.approx([0.0, 0.0], abs=0.01)
