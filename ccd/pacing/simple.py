"""Pacers that need no estimates: power (one call per free agent) and a fixed dial ratio."""

from __future__ import annotations

from ccd.pacing.base import PacingSnapshot, clamp_calls


class _NoLearning:
    """Fixed rules learn nothing from finished calls."""

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        pass

    def record_answer(self, dropped: bool, now: float) -> None:
        pass

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        pass


class PowerPacer(_NoLearning):
    """One call in progress per free agent: never more calls than free agents, no overdial."""

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        return clamp_calls(snap.ready - len(snap.ringing) - snap.waiting, snap)


class RatioPacer(_NoLearning):
    """Keep `ratio` calls ringing (or answered, waiting) per free agent."""

    def __init__(self, ratio: float = 2.0) -> None:
        if not 1.0 <= ratio <= 20.0:
            raise ValueError(f"ratio must be between 1 and 20, got {ratio}")
        self.ratio = ratio

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        want = round(self.ratio * snap.ready) - len(snap.ringing) - snap.waiting
        return clamp_calls(want, snap)
