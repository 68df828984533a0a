"""Pacing benchmark: power, vicidial and erlang over a grid of campaigns.

Grid (8 h days, --seeds per cell, 5 by default):
  - where predictive dialing is mostly run: 15 / 20 / 30 agents × mean talk 60 / 240 s ×
    plain (answer 0.25), drift (the answer rate moves hour by hour, 0.12 to 0.35),
    machines (answer 0.20, answering machines 0.20 caught by AMD in 3 s), fastfail (60 % of
    unanswered numbers fail within ~1.5 s);
  - elsewhere: 5 and 100 agents × answer 0.10 / 0.50 × talk 60 / 180 s.
Prints abandon % (mean/max over seeds) and talk occupancy as a fraction of the no-idle limit
E[talk] / (E[talk] + E[wrap]) per cell and pacer, and whether the targets hold:
  - erlang's abandon <= 3.0 % of answered calls in every run of every cell;
  - erlang's occupancy >= 0.90 of the limit in every 15-30 agent cell (mean over seeds);
  - erlang's occupancy above vicidial's in every cell.
Then the simulator's speed (sim-hours per wall second, 8 h × 20 agents) against a bare
event loop that pushes and pops the same number of heap events, timed in the same run.

--curve prints instead what a looser abandon limit buys: erlang at target_abandon 3, 5, 8
and 12 % in the plain 15 and 20 agent cells, and the abandon at which occupancy would reach
0.90 of the limit (interpolated between the measured points).

Run: python bench/pacing.py [--quick | --curve] [--seeds N] [--jobs N]
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from multiprocessing import Pool
from typing import Any

from ccd.pacing import create_pacer
from ccd.sim.callcenter import Scenario, simulate

PACERS: dict[str, dict[str, Any]] = {
    "power": {},
    "vicidial": {},
    "erlang": {"target_abandon": 0.03},
}
TARGET_ABANDON = 0.03
TARGET_OCCUPANCY = 0.90  # of the no-idle limit, at 15-30 agents
FOCUS_AGENTS = (15, 20, 30)

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"answer_rate": 0.25},
    "drift": {"answer_by_hour": (0.35, 0.30, 0.20, 0.12, 0.18, 0.30, 0.35, 0.25)},
    "machines": {"answer_rate": 0.20, "machine_rate": 0.20},
    "fastfail": {"answer_rate": 0.25, "fail_rate": 0.6, "fail_s": 1.5},
}

Cell = tuple[int, float, str]  # agents, mean talk seconds, variant (or "answer=0.10")
Job = tuple[Cell, int, str, float]  # cell, seed, pacer, its target_abandon (0: none)

CURVE_CELLS: list[Cell] = [(15, 60.0, "plain"), (20, 60.0, "plain"), (15, 240.0, "plain"),
                           (20, 240.0, "plain")]  # fmt: skip
CURVE_TARGETS = (0.03, 0.05, 0.08, 0.12)


def grid(quick: bool) -> list[Cell]:
    if quick:
        return [(20, 60.0, v) for v in VARIANTS] + [(15, 240.0, "plain"), (5, 60.0, "answer=0.50")]
    focus = list(itertools.product(FOCUS_AGENTS, (60.0, 240.0), VARIANTS))
    elsewhere = [
        (a, t, f"answer={p:.2f}") for a, p, t in itertools.product((5, 100), (0.10, 0.50),
                                                                   (60.0, 180.0))
    ]  # fmt: skip
    return focus + elsewhere


def scenario(cell: Cell, seed: int) -> Scenario:
    agents, talk, variant = cell
    extra = (
        {"answer_rate": float(variant.split("=")[1])}
        if variant.startswith("answer=")
        else VARIANTS[variant]
    )
    return Scenario(agents=agents, talk_s=talk, hours=8.0, seed=seed, **extra)


def no_idle_limit(sc: Scenario) -> float:
    return sc.talk_s / (sc.talk_s + sc.wrap_s)


def run_one(job: Job) -> tuple[Job, float, float]:
    cell, seed, pacer, target = job
    sc = scenario(cell, seed)
    params = {**PACERS[pacer], **({"target_abandon": target} if target else {})}
    r = simulate(sc, create_pacer(pacer, **params), pacer)
    return job, r.abandon, r.occupancy / no_idle_limit(sc)


def run_all(jobs: list[Job], processes: int) -> dict[Job, tuple[float, float]]:
    """Abandon and occupancy (of the no-idle limit) per job; the slowest jobs start first
    (erlang, many agents, short calls), so the pool does not end waiting on one long run."""
    order = sorted(jobs, key=lambda j: -(j[2] == "erlang") * j[0][0] / j[0][1])
    with Pool(processes) as pool:
        return {job: (ab, oc) for job, ab, oc in pool.imap_unordered(run_one, order, chunksize=1)}


def curve(seeds: int, processes: int) -> int:
    """Erlang's occupancy against its abandon limit, and the abandon that 0.90 would take."""
    jobs = [(c, s, "erlang", t) for c in CURVE_CELLS for t in CURVE_TARGETS for s in range(seeds)]
    out = run_all(jobs, processes)
    print(f"erlang, {seeds} simulated 8 h days per point: abandon % mean/max, occupancy of "
          "the no-idle limit (mean)\n")  # fmt: skip
    print(f"{'agents':>6} {'talk':>5} |" + "".join(f" {f'limit {100 * t:g} %':>17} |"
                                                   for t in CURVE_TARGETS))  # fmt: skip
    for cell in CURVE_CELLS:
        points = []
        line = f"{cell[0]:>6} {cell[1]:>5.0f} |"
        for t in CURVE_TARGETS:
            ab = [out[cell, s, "erlang", t][0] for s in range(seeds)]
            occ = statistics.mean(out[cell, s, "erlang", t][1] for s in range(seeds))
            points.append((statistics.mean(ab), occ))
            line += f" {100 * statistics.mean(ab):5.2f}/{100 * max(ab):5.2f} {occ:5.3f} |"
        print(f"{line} {TARGET_OCCUPANCY:.2f} at {abandon_for(points, TARGET_OCCUPANCY)}")
    return 0


def abandon_for(points: list[tuple[float, float]], occupancy: float) -> str:
    """The abandon rate at which occupancy crosses `occupancy`, linear between the points."""
    for (a0, o0), (a1, o1) in itertools.pairwise(points):
        if o0 < occupancy <= o1:
            return f"{100 * (a0 + (a1 - a0) * (occupancy - o0) / (o1 - o0)):.1f} %"
    if points[0][1] >= occupancy:
        return f"<= {100 * points[0][0]:.1f} %"
    return f"> {100 * points[-1][0]:.1f} %"


def bare_loop(events: int, ticks: int) -> float:
    """Seconds a heap event loop takes to push and pop `events` events around `ticks` ticks."""
    rng = random.Random(0)
    heap: list[tuple[float, int]] = []
    per_tick = events / ticks
    owed = 0.0
    seq = 0
    started = time.perf_counter()
    for t in range(ticks):
        owed += per_tick
        while owed >= 1.0:
            seq += 1
            heapq.heappush(heap, (t + rng.random() * 60.0, seq))
            owed -= 1.0
        while heap and heap[0][0] <= t:
            heapq.heappop(heap)
    return time.perf_counter() - started


def speed() -> None:
    scenario = Scenario(agents=20, answer_rate=0.25, talk_s=180.0, hours=8.0, seed=1)
    print("\nsimulator speed, 8 h × 20 agents (answer 0.25, talk 180 s):")
    for pacer in ("power", "erlang"):
        started = time.perf_counter()
        r = simulate(scenario, create_pacer(pacer, **PACERS[pacer]), pacer)
        wall = time.perf_counter() - started
        base = bare_loop(r.events, int(r.hours * 3600))
        print(
            f"  {pacer:8s} {wall:6.2f} s wall = {r.hours / wall:7.1f} sim-h/s; "
            f"bare event loop of the same {r.events} events {base:5.2f} s = "
            f"{r.hours / base:7.1f} sim-h/s; ratio sim/bare {wall / base:5.1f}×"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small grid, 2 seeds")
    ap.add_argument("--curve", action="store_true", help="erlang's occupancy per abandon limit")
    ap.add_argument("--seeds", type=int, default=5, help="days per cell (seeds 0..N-1)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = ap.parse_args()
    if args.curve:
        return curve(args.seeds, args.jobs)
    cells = grid(args.quick)
    seeds = 2 if args.quick else args.seeds
    jobs = [(c, s, p, 0.0) for c in cells for s in range(seeds) for p in PACERS]
    started = time.perf_counter()
    abandon: dict[tuple[Cell, str], list[float]] = defaultdict(list)
    occ: dict[tuple[Cell, str], list[float]] = defaultdict(list)
    for (cell, _seed, pacer, _target), (day_abandon, day_occ) in run_all(jobs, args.jobs).items():
        abandon[cell, pacer].append(day_abandon)
        occ[cell, pacer].append(day_occ)
    wall = time.perf_counter() - started
    print(f"{len(jobs)} simulated 8 h days in {wall:.0f} s on {args.jobs} processes")
    print("abandon % of answered calls, mean/max over seeds; occupancy = talk occupancy as a")
    print("fraction of the no-idle limit E[talk] / (E[talk] + E[wrap]), mean over seeds\n")
    head = f"{'agents':>6} {'talk':>5} {'campaign':>11} |"
    for p in PACERS:
        head += f" {p + ' ab%':>14} {'occ':>5} |"
    print(head)
    worst_abandon = 0.0
    low_cells: list[Cell] = []
    lost_cells: list[Cell] = []
    for cell in cells:
        line = f"{cell[0]:>6} {cell[1]:>5.0f} {cell[2]:>11} |"
        for p in PACERS:
            days = abandon[cell, p]
            line += (
                f" {100 * statistics.mean(days):6.2f}/{100 * max(days):5.2f}"
                f" {statistics.mean(occ[cell, p]):5.3f} |"
            )
        print(line)
        worst_abandon = max(worst_abandon, max(abandon[cell, "erlang"]))
        erlang_occ = statistics.mean(occ[cell, "erlang"])
        if cell[0] in FOCUS_AGENTS and erlang_occ < TARGET_OCCUPANCY:
            low_cells.append(cell)
        if erlang_occ <= statistics.mean(occ[cell, "vicidial"]):
            lost_cells.append(cell)
    print("\nper pacer over all cells (abandon % mean/max, occupancy mean/min of the limit):")
    for p in PACERS:
        rates = [a for c in cells for a in abandon[c, p]]
        occs = [o for c in cells for o in occ[c, p]]
        print(f"  {p:8s} {100 * statistics.mean(rates):5.2f}/{100 * max(rates):5.2f}"
              f"  {statistics.mean(occs):5.3f}/{min(occs):5.3f}")  # fmt: skip
    ok_abandon = worst_abandon <= TARGET_ABANDON
    print("\ntargets:")
    print(f"  erlang abandon <= 3.0 % in every run: worst {100 * worst_abandon:.2f} % "
          f"{'PASS' if ok_abandon else 'FAIL'}")  # fmt: skip
    print(f"  erlang occupancy >= {TARGET_OCCUPANCY} of the limit at 15-30 agents: "
          f"{'PASS' if not low_cells else f'FAIL in {low_cells}'}")  # fmt: skip
    print(f"  erlang occupancy above vicidial in every cell: "
          f"{'PASS' if not lost_cells else f'FAIL in {lost_cells}'}")  # fmt: skip
    speed()
    return 0 if ok_abandon and not low_cells and not lost_cells else 1


if __name__ == "__main__":
    sys.exit(main())
