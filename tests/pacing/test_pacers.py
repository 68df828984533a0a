"""The pacer contract, checked over many random snapshots, and each pacer's own rules."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from ccd.pacing import PACERS, Pacer, PacingSnapshot, campaign_pacer, create_pacer
from ccd.pacing.predictive import ErlangPacer
from ccd.pacing.vicidial import VicidialPacer

CONFIGS: list[tuple[str, dict[str, float]]] = [
    ("power", {}),
    ("ratio", {"ratio": 2.0}),
    ("ratio", {"ratio": 3.5, "max_ratio": 4.0}),
    ("ratio", {"ratio": 1.5, "max_ratio": 1.5}),
    ("vicidial", {}),
    ("vicidial", {"max_ratio": 4.0}),
    ("vicidial", {"max_ratio": 1.5, "target_abandon": 0.1}),
    ("erlang", {}),
    ("erlang", {"target_abandon": 0.05, "max_ratio": 2.0}),
]


def random_snapshot(rng: random.Random, now: float) -> PacingSnapshot:
    agents = rng.choice([0, 1, 2, 5, 20, 100])
    ready = rng.randint(0, agents)
    talking = rng.randint(0, agents - ready)
    wrapping = agents - ready - talking
    ringing = rng.randint(0, 4 * agents + 3)
    return PacingSnapshot(
        now=now,
        ready=ready,
        talking=tuple(rng.uniform(0, 900) for _ in range(talking)),
        wrapping=tuple(rng.uniform(0, 60) for _ in range(wrapping)),
        ringing=tuple(rng.uniform(0, 30) for _ in range(ringing)),
        waiting=rng.randint(0, 3),
        lines_free=rng.choice([0, 1, 3, 10, 1000]),
    )


def feed(pacer: Pacer, rng: random.Random, now: float) -> None:
    """Random outcomes, including a bad streak of drops, as the engine would report them."""
    for _ in range(rng.randint(0, 5)):
        pacer.record_ring(rng.uniform(1, 30), rng.random() < 0.3, now)
    for _ in range(rng.randint(0, 3)):
        pacer.record_answer(rng.random() < 0.1, now)
    if rng.random() < 0.3:
        pacer.record_call(rng.lognormvariate(4.5, 0.8), rng.uniform(2, 40), now)


@pytest.mark.parametrize(("name", "params"), CONFIGS)
def test_invariants_over_random_snapshots(name: str, params: dict[str, float]) -> None:
    rng = random.Random(f"{name}{params}")
    pacer = create_pacer(name, **params)
    max_ratio = params.get("max_ratio", 3.0)
    for step in range(3000):
        now = step * 1.0
        snap = random_snapshot(rng, now)
        n = pacer.calls_to_place(snap)
        assert isinstance(n, int)
        assert 0 <= n <= snap.lines_free, (snap, n)
        if name == "ratio":  # ratio calls in progress per free agent
            pending = len(snap.ringing) + snap.waiting
            assert pending + n <= max(round(params["ratio"] * snap.ready), pending)
        # Every pacer: lines per staffed agent, counting what is already in progress.
        assert snap.lines_used + n <= max(math.floor(max_ratio * snap.agents), snap.lines_used)
        if name == "power":
            assert n <= snap.ready
        if snap.agents == 0:
            assert n == 0
        feed(pacer, rng, now)


def test_power_places_one_call_per_uncovered_free_agent() -> None:
    snap = PacingSnapshot(0.0, 3, (10.0,), (), (4.0,), 0, 100)
    assert create_pacer("power").calls_to_place(snap) == 2
    assert create_pacer("power").calls_to_place(dataclasses.replace(snap, lines_free=1)) == 1


def test_ratio_keeps_ratio_calls_per_free_agent() -> None:
    snap = PacingSnapshot(0.0, 3, (), (), (1.0, 2.0), 1, 100)
    assert create_pacer("ratio", ratio=2.0).calls_to_place(snap) == 3  # 6 - 2 ringing - 1 waiting


def test_ratio_never_goes_over_max_ratio_lines_per_agent() -> None:
    one_free = PacingSnapshot(0.0, 1, (), (), (), 0, 100)
    # round(1.5 × 1 free agent) = 2 calls would be 2 lines for 1 agent: over 1.5.
    assert create_pacer("ratio", ratio=1.5, max_ratio=1.5).calls_to_place(one_free) == 1
    assert create_pacer("ratio", ratio=1.5, max_ratio=2.0).calls_to_place(one_free) == 2
    with pytest.raises(ValueError, match="ratio 2.5 is above max_ratio 2"):
        create_pacer("ratio", ratio=2.5, max_ratio=2.0)
    # Without a ceiling given, the ratio is its own.
    assert create_pacer("ratio", ratio=4.0).max_ratio == 4.0  # type: ignore[attr-defined]


def test_campaign_settings_reach_every_pacer() -> None:
    """--max-ratio caps every pacer, --target-abandon is erlang's and vicidial's limit."""
    def make(name: str, max_ratio: float = 3.0, target: float = 0.03) -> Pacer:
        return campaign_pacer(name, dial_ratio=1.0, max_ratio=max_ratio, target_abandon=target)

    # vicidial: its dial level climbs with idle agents, up to the campaign's ceiling.
    capped = make("vicidial", max_ratio=1.5)
    idle = PacingSnapshot(0.0, 10, (), (), (), 0, 1000)
    for t in range(0, 61):
        n = capped.calls_to_place(dataclasses.replace(idle, now=float(t)))
        assert n <= 15
    assert isinstance(capped, VicidialPacer) and capped.level == 1.5
    assert capped.calls_to_place(dataclasses.replace(idle, now=62.5)) == 15
    # vicidial: 5 drops in 60 answers (8.3 %) halve the level under a 3 % limit, not a 10 %.
    for target, level in ((0.03, 1.5), (0.10, 3.0)):
        p = make("vicidial", target=target)
        for t in range(0, 31):
            p.calls_to_place(dataclasses.replace(idle, now=float(t)))
        assert isinstance(p, VicidialPacer) and p.level == 3.0
        for i in range(60):
            p.record_answer(i < 5, 31.0)
        p.calls_to_place(dataclasses.replace(idle, now=45.0))
        assert p.level == level, target
    # erlang and ratio take the ceiling too; power has nothing to cap (one line per agent).
    erlang = make("erlang", max_ratio=1.2, target=0.05)
    assert isinstance(erlang, ErlangPacer) and (erlang.max_ratio, erlang.target) == (1.2, 0.05)
    assert make("ratio", max_ratio=1.0).calls_to_place(idle) == 10
    with pytest.raises(ValueError, match="max_ratio must be between 1 and 20"):
        make("vicidial", max_ratio=25.0)


def test_vicidial_cycle_and_level() -> None:
    p = VicidialPacer()
    idle = PacingSnapshot(0.0, 10, (), (), (), 0, 1000)
    assert p.calls_to_place(idle) == 10  # L = 1: one call per active agent
    assert p.calls_to_place(dataclasses.replace(idle, now=1.0)) == 0  # within the 2.5 s cycle
    for t in range(2, 16):
        p.calls_to_place(dataclasses.replace(idle, now=float(t)))
    assert p.level == 2.0  # all agents idle: L × (1 + 10/10)
    for t in range(16, 31):
        p.calls_to_place(dataclasses.replace(idle, now=float(t)))
    assert p.level == 3.0  # clamped at max level
    for i in range(60):  # the day over the drop limit: 4 drops in 60 answers
        p.record_answer(i < 4, 31.0)
    p.calls_to_place(dataclasses.replace(idle, now=45.0))
    assert p.level == 1.5


def test_vicidial_halves_on_a_bad_minute() -> None:
    p = VicidialPacer()
    idle = PacingSnapshot(0.0, 10, (), (), (), 0, 1000)
    for _ in range(2000):
        p.record_answer(False, 0.0)  # a good day so far, under the drop limit...
    for t in range(0, 91):
        p.calls_to_place(dataclasses.replace(idle, now=float(t)))
    assert p.level == 3.0
    for i in range(30):
        p.record_answer(i % 3 != 0, 95.0)  # ...then 20 of the minute's 30 answers dropped
    p.calls_to_place(dataclasses.replace(idle, now=105.0))
    assert p.level == 1.5


def test_erlang_cold_start_is_power_dialing() -> None:
    """No drop budget yet (nothing answered): never more calls than free agents."""
    p = ErlangPacer()
    snap = PacingSnapshot(0.0, 4, (100.0,) * 6, (), (), 0, 1000)
    assert p.calls_to_place(snap) == 4


def test_erlang_warm_up_paces_at_the_erlang_c_rate() -> None:
    """Measured rates but no drop budget yet: Erlang C's steady rate, not one call per agent."""
    p = ErlangPacer()
    for i in range(60):
        p.record_ring(8.0 if i % 4 == 0 else 25.0, i % 4 == 0, float(i))
    for _ in range(12):
        p.record_call(100.0, 10.0, 60.0)
    snap = PacingSnapshot(60.0, 10, (50.0,) * 90, (), (), 0, 1000)
    n = p.calls_to_place(snap)
    assert 10 < n <= 3 * 100 - 90
    for _ in range(40):  # 40 answers, 4 dropped: 2.8 drops over budget, back to power dialing
        p.record_answer(p.answered < 4, 61.0)
    assert p.calls_to_place(dataclasses.replace(snap, now=62.0)) == 10


def test_erlang_overdials_once_it_has_budget() -> None:
    p = ErlangPacer()
    for i in range(400):
        p.record_ring(8.0 if i % 4 == 0 else 25.0, i % 4 == 0, float(i))
        p.record_answer(False, float(i))
        p.record_call(120.0, 10.0, float(i))
    snap = PacingSnapshot(500.0, 4, (100.0,) * 16, (), (), 0, 1000)
    n = p.calls_to_place(snap)
    assert n > 4  # 1 in 4 answers: more calls than free agents
    assert n <= 3.0 * 20 - 16
    # drops push it back
    for _ in range(30):
        p.record_answer(True, 600.0)
    assert p.calls_to_place(dataclasses.replace(snap, now=601.0)) <= 4


def test_erlang_scales_its_risk_down_with_the_budget_but_keeps_a_floor() -> None:
    """Under 6 drops of budget the learned risk shrinks in proportion, never under 15 % of
    it while the window is within 2 drops of its limit; more than 2 over, no risk at all."""
    p = _trained_erlang()  # 400 answers, 8 dropped: budget 4 drops
    learned = math.exp(p._log_risk)
    assert p.slack == pytest.approx(4.0)
    assert p.risk == pytest.approx(learned * 4.0 / 6.0)
    snap = PacingSnapshot(500.0, 6, (1.0,) * 14, (), (2.0,) * 8, 0, 1000)
    at_four = p.calls_to_place(snap)
    p.window.set_before(5, 5, 1e9, 500.0)  # 5 earlier answers, all dropped: 0.85 over
    assert p.slack == pytest.approx(-0.85)
    assert p.risk == pytest.approx(learned * 0.15)
    at_floor = p.calls_to_place(snap)
    assert 0 < at_floor < at_four  # still overdials (power: 0 with 8 ringing), less
    p.window.set_before(7, 7, 1e9, 500.0)  # 2.79 over the limit: power dialing
    assert p.risk == 0.0
    assert p.calls_to_place(snap) == 0  # the 8 ringing calls cover the 6 free agents
    p.window.set_before(200, 0, 1e9, 500.0)  # budget 10: the full learned risk
    assert p.risk == pytest.approx(learned)


def test_erlang_counts_agents_about_to_free_up() -> None:
    p = ErlangPacer()
    for i in range(400):
        p.record_ring(8.0 if i % 2 == 0 else 25.0, i % 2 == 0, float(i))
        p.record_answer(i % 50 == 0, float(i))  # 1 in 50 dropped: a real day's risk level
        p.record_call(120.0 + i % 60, 10.0, float(i))
    long_done = PacingSnapshot(500.0, 0, (175.0,) * 10, (9.0,) * 10, (), 0, 1000)
    just_started = PacingSnapshot(500.0, 0, (1.0,) * 10, (0.5,) * 10, (), 0, 1000)
    assert p.calls_to_place(long_done) > p.calls_to_place(just_started)
    ringing = dataclasses.replace(long_done, ringing=(2.0,) * 8)
    assert p.calls_to_place(ringing) < p.calls_to_place(long_done)


def test_create_pacer_names_what_is_wrong() -> None:
    assert set(PACERS) >= {"power", "ratio", "vicidial", "erlang"}
    with pytest.raises(ValueError, match="unknown pacer 'magic'.*erlang"):
        create_pacer("magic")
    with pytest.raises(ValueError, match="'speed'.*max_ratio"):
        create_pacer("erlang", speed=2)
    with pytest.raises(ValueError, match="ratio must be between"):
        create_pacer("ratio", ratio=0.5)
    with pytest.raises(ValueError, match="'ratio'.*number"):
        create_pacer("ratio", ratio="2")
    with pytest.raises(ValueError, match="target_abandon"):
        create_pacer("erlang", target_abandon=0.0)
    with pytest.raises(ValueError, match="power.*'ratio'"):
        create_pacer("power", ratio=2.0)


def test_snapshot_is_frozen_with_the_agreed_fields() -> None:
    snap = PacingSnapshot(1.0, 2, (3.0,), (4.0,), (5.0, 6.0), 1, 7)
    assert [f.name for f in dataclasses.fields(snap)] == [
        "now", "ready", "talking", "wrapping", "ringing", "waiting", "lines_free",
    ]  # fmt: skip
    assert snap.agents == 4 and snap.lines_used == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.ready = 3  # type: ignore[misc]


def _trained_erlang(**params: float) -> ErlangPacer:
    """Answers 1 in 4 at 4-12 s of ringing (the rest ring out at 25 s); 300 s calls; 400
    answers, 1 in 50 dropped."""
    p = ErlangPacer(**params)
    for i in range(1000):
        answered = i % 4 == 0
        p.record_ring(4.0 + (i // 4) % 9 if answered else 25.0, answered, float(i))
    for i in range(400):
        p.record_call(300.0, 10.0, float(i))
        p.record_answer(i % 50 == 0, float(i))
    return p


def _drops_per_answer_of_last(calls: int, ready: int, ringing: int, elapsed: float) -> float:
    """Monte Carlo of the `calls`-th new call in _trained_erlang's world: answered in second
    τ, it is dropped when more than `ready` calls (ringing ones, the other new ones, itself)
    are answered by the end of that second."""
    rng = random.Random(7)
    drops = answers = 0
    for _ in range(20_000):

        def answer_at(rung: float) -> float | None:
            if rng.random() >= 0.25:
                return None
            return 4.0 + rng.randrange(9) - rung

        own = answer_at(0.0)
        if own is None:
            continue
        answers += 1
        others = [answer_at(elapsed) for _ in range(ringing)] + [
            answer_at(0.0) for _ in range(calls - 1)
        ]
        ahead = sum(1 for t in others if t is not None and math.ceil(t) <= math.ceil(own))
        drops += ahead + 1 > ready
    return drops / answers


def test_erlang_places_calls_while_the_last_ones_drop_chance_is_within_risk() -> None:
    """The marginal rule: the last call placed is dropped at about the risk level, the next
    would be dropped more often; an average over all the calls would hide a risky last one
    among the safe ones ringing already."""
    p = _trained_erlang()
    p.window.set_before(200, 0, 1e9, 500.0)  # budget 10 drops: the full learned risk
    snap = PacingSnapshot(500.0, 6, (1.0,) * 14, (), (2.0,) * 8, 0, 1000)
    n = p.calls_to_place(snap)
    risk = p.risk
    assert n > 6
    assert _drops_per_answer_of_last(n, 6, 8, 2.0) <= 1.2 * risk
    assert _drops_per_answer_of_last(n + 1, 6, 8, 2.0) > 0.8 * risk


def test_erlang_goal_spends_the_budget_down_to_the_reserve() -> None:
    p = ErlangPacer(target_abandon=0.03, margin=0.85, reserve=8.0, reserve_share=0.0005)
    assert p.goal == pytest.approx(0.85 * 0.03)  # no budget yet: aim under the target
    for _ in range(270):  # budget 8.1 drops, under the reserve of 8 + 0.0005 × 270
        p.record_answer(False, 0.0)
    assert p.goal == pytest.approx(0.85 * 0.03)
    for _ in range(30):  # budget 9 against 8.15: aim at the target itself
        p.record_answer(False, 1.0)
    assert p.goal == 0.03
    for _ in range(2):  # 2 drops: the budget 7.06 is under the reserve again
        p.record_answer(True, 2.0)
    assert p.goal == pytest.approx(0.85 * 0.03)
    # the window's earlier answers count too
    q = ErlangPacer(target_abandon=0.03)
    q.count_window(2000, 40, 86400.0, 0.0)
    assert q.goal == 0.03
