"""The abandon rate over the campaign's rolling window: counted, rolled, and paced on."""

from __future__ import annotations

import dataclasses

import pytest

from ccd.pacing import PacingSnapshot
from ccd.pacing.predictive import ErlangPacer
from ccd.pacing.window import AnswerWindow, WindowedPacer

DAY = 86400.0


def test_window_adds_earlier_counts_to_its_own_and_forgets_what_rolls_out() -> None:
    w = AnswerWindow()
    w.set_before(100, 2, DAY, now=0.0)
    for t in range(0, 3600, 60):  # an hour of own answers, one a minute, every 10th dropped
        w.add(t % 600 == 0, float(t))
    assert (w.answered, w.dropped) == (160, 8)
    w.add(False, DAY + 1800.0)  # half of that hour has left the 24 h window
    assert (w.answered, w.dropped) == (100 + 30 + 1, 2 + 3)
    w.set_before(7, 1, DAY, now=2 * DAY)  # the store's new count; the own hour is all gone
    assert (w.answered, w.dropped) == (8, 1)


def test_window_without_a_span_counts_the_run() -> None:
    w = AnswerWindow()
    for t in range(1000):
        w.add(t < 5, t * 1000.0)
    assert (w.answered, w.dropped) == (1000, 5)


def test_window_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="dropped <= answered"):
        AnswerWindow().set_before(1, 2, DAY, 0.0)
    with pytest.raises(ValueError, match="span_s"):
        AnswerWindow().set_before(1, 0, 0.0, 0.0)


def _measured() -> ErlangPacer:
    """Estimates measured (1 in 4 rings answered, 130 s calls), no answers counted yet."""
    p = ErlangPacer()
    assert isinstance(p, WindowedPacer)
    for i in range(400):
        p.record_ring(8.0 if i % 4 == 0 else 25.0, i % 4 == 0, float(i))
        p.record_call(120.0, 10.0, float(i))
    return p


SNAP = PacingSnapshot(500.0, 4, (100.0,) * 16, (), (), 0, 1000)


def test_a_window_over_its_limit_holds_a_fresh_run_to_power_dialing() -> None:
    """A clean run inside a window already over the limit: no overdial until the window's
    drops are paid back by answers, though the run alone would allow it."""
    alone, windowed = _measured(), _measured()
    windowed.count_window(2000, 90, 30 * DAY, now=400.0)  # 4.5 % over the last 30 days
    for i in range(400):
        for p in (alone, windowed):
            p.record_answer(False, 400.0 + i)
    assert alone.calls_to_place(SNAP) > 4
    assert windowed.calls_to_place(SNAP) == 4  # one per free agent
    # 2000 more clean answers bring the window to 90 / 4400 = 2.0 %: overdial again
    for i in range(2000):
        windowed.record_answer(False, 900.0 + i)
    assert windowed.calls_to_place(dataclasses.replace(SNAP, now=3000.0)) > 4


def test_a_window_with_budget_lets_a_new_run_overdial_from_its_first_call() -> None:
    """A fresh run (nothing measured, nothing answered) is power dialing on its own; the
    window's earned budget lets it overdial from the start."""
    alone, windowed = ErlangPacer(), ErlangPacer()
    windowed.count_window(5000, 50, DAY, now=0.0)  # 1 % over the last 24 h
    snap = PacingSnapshot(1.0, 10, (100.0,) * 10, (), (), 0, 1000)
    assert alone.calls_to_place(snap) == 10  # one per free agent
    assert windowed.calls_to_place(snap) > 10
