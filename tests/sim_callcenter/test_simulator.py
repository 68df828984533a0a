"""The call-center simulator: determinism, accounting, scenario checks, pacer contract."""

from __future__ import annotations

import dataclasses

import pytest

from ccd.pacing import PacingSnapshot, create_pacer
from ccd.sim.callcenter import PacerContractError, Scenario, Shift, simulate

SHORT = Scenario(agents=10, hours=1.0, answer_rate=0.3, talk_s=90.0, seed=7)


def test_same_seed_same_day() -> None:
    a = simulate(SHORT, create_pacer("erlang"), "erlang")
    b = simulate(SHORT, create_pacer("erlang"), "erlang")
    assert a == b
    assert a.attempts > 0 and a.answered > 0


def test_different_seed_different_day() -> None:
    a = simulate(SHORT, create_pacer("ratio", ratio=2.0))
    b = simulate(dataclasses.replace(SHORT, seed=8), create_pacer("ratio", ratio=2.0))
    assert (a.attempts, a.answered, a.talk_s) != (b.attempts, b.answered, b.talk_s)


def test_accounting_adds_up() -> None:
    r = simulate(SHORT, create_pacer("ratio", ratio=2.5), "ratio")
    assert r.staffed_s == pytest.approx(10 * 3600.0)
    assert r.talk_s + r.wrap_s + r.idle_s == pytest.approx(r.staffed_s)
    assert 0 < r.occupancy < 1
    assert r.dropped <= r.answered <= r.attempts
    assert 0.2 < r.answered / r.attempts < 0.4  # answer rate 0.3
    assert len(r.timeline) == 12  # 5-minute buckets
    assert r.timeline[-1].abandon == pytest.approx(r.abandon)
    assert r.idle_min_per_agent_hour == pytest.approx(60 * r.idle_s / r.staffed_s)


def test_power_dialing_never_drops() -> None:
    r = simulate(dataclasses.replace(SHORT, answer_rate=0.6), create_pacer("power"))
    assert r.dropped == 0 and r.answered > 100


def test_overdialing_drops_calls() -> None:
    r = simulate(dataclasses.replace(SHORT, answer_rate=0.6), create_pacer("ratio", ratio=4.0))
    assert r.abandon > 0.05


def test_machines_are_not_answers() -> None:
    sc = dataclasses.replace(SHORT, answer_rate=0.2, machine_rate=0.3)
    r = simulate(sc, create_pacer("power"))
    assert r.machines > 0.2 * r.attempts
    assert r.answered < 0.3 * r.attempts


def test_answer_rate_by_hour() -> None:
    sc = dataclasses.replace(SHORT, hours=2.0, answer_by_hour=(0.1, 0.6))
    r = simulate(sc, create_pacer("power"), "power")
    first, second = r.timeline[11], r.timeline[-1]
    assert first.occupancy < second.occupancy


def test_shifts_and_breaks_reduce_staffed_time() -> None:
    sc = dataclasses.replace(
        SHORT, hours=4.0, shifts=(Shift(0.0, 4.0, 4), Shift(2.0, 4.0, 6)),
        break_every_h=2.0, break_min=15.0,
    )  # fmt: skip
    r = simulate(sc, create_pacer("power"))
    full = (4 * 4 + 6 * 2) * 3600.0
    breaks = (4 * 2 + 6 * 1) * 15 * 60.0  # at most this many breaks, each 15 min
    assert full - breaks <= r.staffed_s < full
    assert r.talk_s + r.wrap_s + r.idle_s == pytest.approx(r.staffed_s)


def test_every_snapshot_is_consistent() -> None:
    seen: list[PacingSnapshot] = []
    inner = create_pacer("ratio", ratio=2.0)

    class Spy:
        def calls_to_place(self, snap: PacingSnapshot) -> int:
            seen.append(snap)
            return inner.calls_to_place(snap)

        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(inner, name)

    sc = dataclasses.replace(SHORT, lines=25)
    simulate(sc, Spy())  # type: ignore[arg-type]
    assert len(seen) == 3600  # asked every simulated second
    assert [s.now for s in seen[:3]] == [0.0, 1.0, 2.0]
    for s in seen:
        assert s.agents == 10
        assert s.lines_free == 25 - s.lines_used >= 0
        assert all(x >= 0 for x in s.talking + s.wrapping + s.ringing)
        assert all(x < 25.0 + 3.0 for x in s.ringing)  # dial timeout (+ AMD)


def test_pacer_breaking_the_contract_is_caught() -> None:
    class Greedy:
        def calls_to_place(self, snap: PacingSnapshot) -> int:
            return snap.lines_free + 1

        def record_ring(self, ring_s: float, answered: bool, now: float) -> None: ...
        def record_answer(self, dropped: bool, now: float) -> None: ...
        def record_call(self, talk_s: float, wrap_s: float, now: float) -> None: ...

    with pytest.raises(PacerContractError, match="lines free"):
        simulate(dataclasses.replace(SHORT, lines=5), Greedy())


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"answer_rate": 1.5}, "answer_rate"),
        ({"answer_rate": 0.8, "machine_rate": 0.3}, "machine_rate"),
        ({"talk_s": 0.0}, "talk_s"),
        ({"agents": 0}, "agents"),
        ({"lines": -1}, "lines"),
        ({"answer_by_hour": (0.2, 1.2)}, "answer_by_hour"),
        ({"shifts": (Shift(0.0, 9.0, 3),)}, "shifts"),
    ],
)
def test_bad_scenario_names_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(SHORT, **changes)


def test_bad_shift() -> None:
    with pytest.raises(ValueError, match="start_h < end_h"):
        Shift(3.0, 2.0, 4)
