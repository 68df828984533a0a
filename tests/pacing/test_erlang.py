"""Erlang B/C against published table values and a brute-force sum, and at 5 000 agents."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ccd.pacing import erlang


def brute_erlang_c(n: int, a: float) -> float:
    """Erlang C from its defining sums, in log space (exact for the sizes used here)."""
    log_terms = [k * math.log(a) - math.lgamma(k + 1) for k in range(n)]
    log_top = n * math.log(a) - math.lgamma(n + 1) + math.log(n / (n - a))
    m = max(*log_terms, log_top)
    below = sum(math.exp(t - m) for t in log_terms)
    top = math.exp(log_top - m)
    return top / (below + top)


def brute_erlang_b(n: int, a: float) -> float:
    log_terms = [k * math.log(a) - math.lgamma(k + 1) for k in range(n + 1)]
    m = max(log_terms)
    return math.exp(log_terms[-1] - m) / sum(math.exp(t - m) for t in log_terms)


def test_published_values() -> None:
    # Erlang B table: 5 trunks offered 2 Erlangs block 3.67 % of calls.
    assert erlang.erlang_b(5, 2.0) == pytest.approx(0.0367, abs=5e-5)
    # The classic staffing example: 10 Erlangs (100 calls per 30 min, 180 s handle time)
    # need 14 agents for 80 % answered in 20 s; with 11 agents 68.2 % of calls wait.
    assert erlang.erlang_c(11, 10.0) == pytest.approx(0.6821, abs=5e-5)
    assert erlang.erlang_c(14, 10.0) == pytest.approx(0.1741, abs=5e-5)
    assert erlang.agents_for_service_level(100 / 1800, 180.0, 0.80, 20.0) == 14
    assert (
        erlang.service_level(13, 10.0, 20.0, 180.0)
        < 0.80
        <= erlang.service_level(14, 10.0, 20.0, 180.0)
    )


@pytest.mark.parametrize(("n", "a"), [(1, 0.5), (3, 2.9), (10, 4.0), (25, 20.0), (80, 75.5)])
def test_brute_force(n: int, a: float) -> None:
    assert erlang.erlang_b(n, a) == pytest.approx(brute_erlang_b(n, a), rel=1e-10)
    assert erlang.erlang_c(n, a) == pytest.approx(brute_erlang_c(n, a), rel=1e-10)


def test_derived_figures_follow_their_formulas() -> None:
    n, a, h, t = 14, 10.0, 180.0, 20.0
    c = brute_erlang_c(n, a)
    assert erlang.prob_wait_longer(n, a, t, h) == pytest.approx(c * math.exp(-(n - a) * t / h))
    assert erlang.service_level(n, a, t, h) == pytest.approx(1 - c * math.exp(-(n - a) * t / h))
    assert erlang.average_speed_of_answer(n, a, h) == pytest.approx(c * h / (n - a))
    assert erlang.occupancy(n, a) == pytest.approx(a / n)


def test_saturated_queue() -> None:
    assert erlang.erlang_c(10, 10.0) == 1.0
    assert erlang.erlang_c(10, 12.0) == 1.0
    assert math.isinf(erlang.average_speed_of_answer(10, 10.0, 180.0))
    assert erlang.occupancy(10, 12.0) == 1.0


def test_five_thousand_agents_without_overflow() -> None:
    c = erlang.erlang_c(5000, 4900.0)
    assert 0.0 < c < 1.0 and math.isfinite(c)
    # economies of scale: 98 % occupancy and still only ~10 % of calls wait
    assert c == pytest.approx(brute_erlang_c(5000, 4900.0), rel=1e-9)
    assert erlang.erlang_b(5000, 6000.0) == pytest.approx(brute_erlang_b(5000, 6000.0), rel=1e-9)
    n = erlang.agents_for_service_level(4900 / 180, 180.0, 0.9, 20.0)
    assert 4900 < n < 5100


def test_vectorised_matches_scalar() -> None:
    n = np.array([1, 5, 20, 100])
    a = np.array([0.5, 3.0, 15.0, 90.0])
    out = erlang.erlang_c(n, a)
    assert isinstance(out, np.ndarray) and out.shape == (4,)
    assert out == pytest.approx(
        [erlang.erlang_c(int(k), float(x)) for k, x in zip(n, a, strict=True)]
    )
    grid = erlang.prob_wait_longer(20, np.linspace(0, 19.9, 50), 2.0, 195.0)
    assert np.all(np.diff(grid) >= 0)  # waiting gets likelier with load
    need = erlang.agents_for_service_level([0.05, 0.1], 180.0, 0.8, 20.0)
    assert list(need) == [erlang.agents_for_service_level(r, 180.0, 0.8, 20.0) for r in (0.05, 0.1)]


def test_max_load_for_wait_hits_the_target() -> None:
    loads = erlang.max_load_for_wait(np.array([5, 20, 100, 5000]), 2.0, 195.0, 0.03)
    got = erlang.prob_wait_longer(np.array([5, 20, 100, 5000]), loads, 2.0, 195.0)
    assert np.all(got <= 0.03) and np.all(got > 0.0299)
    assert np.all(np.diff(loads / np.array([5, 20, 100, 5000])) > 0)  # bigger pools run busier


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang.erlang_c(-1, 1.0), "servers"),
        (lambda: erlang.erlang_c(2.5, 1.0), "servers"),
        (lambda: erlang.erlang_b(3, -0.1), "load"),
        (lambda: erlang.prob_wait_longer(3, 1.0, 2.0, 0.0), "handle"),
        (lambda: erlang.agents_for_service_level(0.1, 180.0, 1.0, 20.0), "target"),
        (
            lambda: erlang.agents_for_service_level(1.0, 180.0, 0.8, 20.0, max_agents=50),
            "max_agents",
        ),
    ],
)
def test_bad_input_names_the_argument(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()
