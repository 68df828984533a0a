"""What a simulated outbound campaign looks like: staff, leads, and how long things take."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shift:
    """`agents` agents logged in from hour start_h to hour end_h of the simulated day."""

    start_h: float
    end_h: float
    agents: int

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValueError(f"shift agents must be >= 1, got {self.agents}")
        if not 0 <= self.start_h < self.end_h:
            raise ValueError(
                f"shift must have 0 <= start_h < end_h, got {self.start_h}..{self.end_h}"
            )


@dataclass(frozen=True, slots=True)
class Scenario:
    """Durations are means in seconds; *_cv is the lognormal's coefficient of variation."""

    agents: int = 20  # staffed the whole day unless `shifts` is given
    hours: float = 8.0
    answer_rate: float = 0.25  # P(a person answers)
    answer_by_hour: tuple[float, ...] = ()  # P(a person answers) per hour; last one repeats
    machine_rate: float = 0.0  # P(an answering machine picks up)
    amd_s: float = 3.0  # time AMD takes to recognise a machine (then the call is hung up)
    ring_answer_s: float = 8.0  # ring time before a person or machine picks up
    ring_cv: float = 0.5
    dial_timeout_s: float = 25.0  # unanswered calls give up after this long
    fail_rate: float = 0.1  # share of unanswered calls that end early (busy, bad number)
    fail_s: float = 4.0
    talk_s: float = 180.0
    talk_cv: float = 0.8
    wrap_s: float = 15.0
    wrap_cv: float = 0.5
    lines: int = 0  # trunk channels; 0 = unlimited
    shifts: tuple[Shift, ...] = ()
    break_every_h: float = 0.0  # each agent takes a break this often; 0 = no breaks
    break_min: float = 15.0
    drop_after_s: float = 2.0
    bucket_s: float = 300.0  # resolution of the timeline
    seed: int = 0

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"scenario {name} {why}, got {getattr(self, name)!r}")

        for name in ("answer_rate", "machine_rate", "fail_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "must be between 0 and 1")
        if self.answer_rate + self.machine_rate > 1.0:
            raise bad("machine_rate", "plus answer_rate must be <= 1")
        if any(not 0.0 <= p <= 1.0 - self.machine_rate for p in self.answer_by_hour):
            raise bad("answer_by_hour", "must hold probabilities (plus machine_rate <= 1)")
        positive = ("hours", "ring_answer_s", "dial_timeout_s", "fail_s", "talk_s", "wrap_s",
                    "drop_after_s", "bucket_s", "break_min")  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise bad(name, "must be > 0")
        for name in ("ring_cv", "talk_cv", "wrap_cv", "amd_s", "break_every_h"):
            if not getattr(self, name) >= 0:
                raise bad(name, "must be >= 0")
        if self.agents < 1 and not self.shifts:
            raise bad("agents", "must be >= 1")
        if self.lines < 0:
            raise bad("lines", "must be >= 0")
        if any(s.end_h > self.hours for s in self.shifts):
            raise bad("shifts", f"must end by hour {self.hours}")

    @property
    def staff(self) -> tuple[Shift, ...]:
        return self.shifts or (Shift(0.0, self.hours, self.agents),)

    def answer_rate_at(self, hour: int) -> float:
        if not self.answer_by_hour:
            return self.answer_rate
        return self.answer_by_hour[min(hour, len(self.answer_by_hour) - 1)]
