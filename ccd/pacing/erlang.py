"""Erlang B and Erlang C, and the staffing figures derived from them.

Every function takes numbers or numpy arrays (broadcast together) and returns a float for
scalar input, an array otherwise. Erlang B comes from its recurrence
B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)), whose terms stay in [0, 1]: no factorials, no
overflow, stable for thousands of servers. Erlang C follows from B.

Names: `servers` = agents (N), `load` = offered traffic in Erlangs (A = rate × handle time),
`handle` = mean handle time in seconds, `t` = a wait threshold in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

# A load this close to N counts as saturated: the queue never empties.
_SATURATED = 1e-12


def _out(x: FloatArray) -> Any:
    return float(x) if x.ndim == 0 else x


def _servers(servers: ArrayLike) -> NDArray[np.int64]:
    n = np.asarray(servers)
    if np.any(n < 0) or np.any(n != np.floor(n)):
        raise ValueError(f"servers must be whole numbers >= 0, got {servers!r}")
    return n.astype(np.int64)


def _nonneg(name: str, value: ArrayLike) -> FloatArray:
    x = np.asarray(value, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return x


def _positive(name: str, value: ArrayLike) -> FloatArray:
    x = _nonneg(name, value)
    if np.any(x == 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return x


def _erlang_b(n: NDArray[np.int64], a: FloatArray) -> FloatArray:
    n, a = np.broadcast_arrays(n, a)
    b = np.ones(a.shape)
    top = int(n.max(initial=0))
    for k in range(1, top + 1):
        step = k <= n
        ab = a * b
        b = np.where(step, ab / (k + ab), b)
    return b


def erlang_b(servers: ArrayLike, load: ArrayLike) -> Any:
    """Blocking probability of an M/M/N/N system (lost calls cleared)."""
    return _out(_erlang_b(_servers(servers), _nonneg("load", load)))


def _erlang_c(n: NDArray[np.int64], a: FloatArray) -> FloatArray:
    n, a = np.broadcast_arrays(n, a)
    b = _erlang_b(n, a)
    stable = a < n - _SATURATED
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a * (1.0 - b))
    return np.where(stable, np.clip(c, 0.0, 1.0), 1.0)


def erlang_c(servers: ArrayLike, load: ArrayLike) -> Any:
    """Probability that a call has to wait at all (M/M/N, infinite patience); 1 if A >= N."""
    return _out(_erlang_c(_servers(servers), _nonneg("load", load)))


def _wait_longer(n: NDArray[np.int64], a: FloatArray, t: FloatArray, h: FloatArray) -> FloatArray:
    n, a, t, h = np.broadcast_arrays(n, a, t, h)
    c = _erlang_c(n, a)
    with np.errstate(over="ignore", invalid="ignore"):
        tail = np.exp(-(n - a) * t / h)
    return np.where(a < n - _SATURATED, c * tail, 1.0)


def prob_wait_longer(servers: ArrayLike, load: ArrayLike, t: ArrayLike, handle: ArrayLike) -> Any:
    """P(wait > t) = C(N, A) · exp(-(N - A) · t / handle)."""
    return _out(
        _wait_longer(
            _servers(servers), _nonneg("load", load), _nonneg("t", t), _positive("handle", handle)
        )
    )


def service_level(servers: ArrayLike, load: ArrayLike, t: ArrayLike, handle: ArrayLike) -> Any:
    """Share of calls answered within t seconds: 1 - P(wait > t)."""
    return _out(1.0 - np.asarray(prob_wait_longer(servers, load, t, handle)))


def average_speed_of_answer(servers: ArrayLike, load: ArrayLike, handle: ArrayLike) -> Any:
    """Mean wait over all calls, ASA = C(N, A) · handle / (N - A); inf if A >= N."""
    n = _servers(servers)
    a = _nonneg("load", load)
    h = _positive("handle", handle)
    n, a, h = np.broadcast_arrays(n, a, h)
    c = _erlang_c(n, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        asa = c * h / (n - a)
    return _out(np.where(a < n - _SATURATED, asa, np.inf))


def occupancy(servers: ArrayLike, load: ArrayLike) -> Any:
    """Share of agent time spent handling calls, A / N (at most 1)."""
    n = _servers(servers).astype(np.float64)
    a = _nonneg("load", load)
    with np.errstate(divide="ignore", invalid="ignore"):
        occ = np.where(n > 0, np.minimum(a / n, 1.0), 0.0)
    return _out(np.asarray(occ, dtype=np.float64))


def agents_for_service_level(
    rate: ArrayLike,
    handle: ArrayLike,
    target: ArrayLike,
    t: ArrayLike,
    max_agents: int = 100_000,
) -> Any:
    """Fewest agents whose service level (answered within t s) reaches `target`.

    `rate` is calls per second and `handle` seconds, so A = rate × handle. Walks the Erlang B
    recurrence once up to the answer, so the cost is O(answer) per element.
    """
    lam = _nonneg("rate", rate)
    h = _positive("handle", handle)
    sl = _nonneg("target", target)
    tt = _nonneg("t", t)
    if np.any(sl >= 1):
        raise ValueError(f"target must be < 1, got {target!r}")
    lam, h, sl, tt = np.broadcast_arrays(lam, h, sl, tt)
    a = lam * h
    b = np.ones(a.shape)
    answer = np.where(a == 0, np.where(sl > 0, 1, 0), 0).astype(np.int64)
    open_ = answer == 0
    for k in range(1, max_agents + 1):
        if not open_.any():
            break
        ab = a * b
        b = ab / (k + ab)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = k * b / (k - a * (1.0 - b))
            p_longer = c * np.exp(-(k - a) * tt / h)
        ok = open_ & (a < k - _SATURATED) & (1.0 - p_longer >= sl)
        answer = np.where(ok, k, answer)
        open_ &= ~ok
    if open_.any():
        raise ValueError(f"no staffing up to max_agents={max_agents} meets the target")
    return int(answer) if answer.ndim == 0 else answer


def max_load_for_wait(
    servers: ArrayLike, t: ArrayLike, handle: ArrayLike, target: ArrayLike, rounds: int = 5
) -> Any:
    """Largest load A (Erlangs) with P(wait > t) <= target, within N / 32**rounds.

    P(wait > t) rises with A, so each round evaluates 33 loads across the current bracket
    at once (one Erlang B recurrence for all of them) and keeps the sub-bracket where
    the target is crossed.
    """
    n = _servers(servers)
    tt = _nonneg("t", t)
    h = _positive("handle", handle)
    p = _nonneg("target", target)
    n, tt, h, p = np.broadcast_arrays(n, tt, h, p)
    steps = np.linspace(0.0, 1.0, 33)
    lo = np.zeros(n.shape)
    width = n.astype(np.float64)
    for _ in range(rounds):
        grid = lo[..., None] + width[..., None] * steps
        ok = _wait_longer(n[..., None], grid, tt[..., None], h[..., None]) <= p[..., None]
        # P rises with load: the last ok point starts the next bracket
        last = np.maximum(ok.sum(axis=-1) - 1, 0)
        lo = np.take_along_axis(grid, last[..., None], axis=-1)[..., 0]
        width = width / 32
    return _out(lo)
