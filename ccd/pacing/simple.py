"""Pacers that need no estimates: power (one call per free agent) and a fixed dial ratio."""

from __future__ import annotations

from ccd.pacing.base import (
    MAX_RATIO_LIMIT,
    PacingSnapshot,
    check_max_ratio,
    clamp_calls,
    line_room,
)


class _NoLearning:
    """Fixed rules learn nothing from finished calls."""

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        pass

    def record_answer(self, dropped: bool, now: float) -> None:
        pass

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        pass


class PowerPacer(_NoLearning):
    """One call in progress per free agent: never more calls than free agents, no overdial
    (so never more than one line per agent: under any max_ratio, which is at least 1)."""

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        return clamp_calls(snap.ready - len(snap.ringing) - snap.waiting, snap)


class RatioPacer(_NoLearning):
    """Keep `ratio` calls ringing (or answered, waiting) per free agent, never more than
    max_ratio (by default the ratio itself) lines per staffed agent in all."""

    def __init__(self, ratio: float = 2.0, max_ratio: float | None = None) -> None:
        if not 1.0 <= ratio <= MAX_RATIO_LIMIT:
            raise ValueError(f"ratio must be between 1 and {MAX_RATIO_LIMIT:g}, got {ratio}")
        ceiling = ratio if max_ratio is None else check_max_ratio(max_ratio)
        if ratio > ceiling:
            raise ValueError(f"ratio {ratio:g} is above max_ratio {ceiling:g}")
        self.ratio = ratio
        self.max_ratio = ceiling

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        want = round(self.ratio * snap.ready) - len(snap.ringing) - snap.waiting
        return clamp_calls(min(want, line_room(snap, self.max_ratio)), snap)
