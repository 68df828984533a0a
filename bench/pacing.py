"""Pacing benchmark: power, ratio 2.0, vicidial and erlang over a grid of campaigns.

Grid: agents 5 / 20 / 100 × answer rate 0.10 / 0.25 / 0.50 × mean talk 60 / 180 s, 8 h
days, 10 seeds per cell. Prints abandon % and talk occupancy per cell and pacer, erlang's
gain over vicidial in occupancy points, and whether the targets hold:
  - erlang's abandon <= 3.0 % in every run of every cell;
  - erlang's occupancy above vicidial's in every cell, by >= 5 points on average.
Then the simulator's speed (sim-hours per wall second, 8 h × 20 agents) against a bare
event loop that pushes and pops the same number of heap events, timed in the same run.

Run: python bench/pacing.py [--quick] [--jobs N]
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
    "ratio": {"ratio": 2.0},
    "vicidial": {},
    "erlang": {"target_abandon": 0.03},
}
TARGET_ABANDON = 0.03
TARGET_GAIN_POINTS = 5.0

Cell = tuple[int, float, float]  # agents, answer rate, mean talk seconds


def grid(quick: bool) -> tuple[list[Cell], int]:
    if quick:
        return list(itertools.product((5, 20), (0.10, 0.50), (180.0,))), 3
    return list(itertools.product((5, 20, 100), (0.10, 0.25, 0.50), (60.0, 180.0))), 10


def run_one(job: tuple[Cell, int, str]) -> tuple[Cell, int, str, float, float]:
    (agents, answer, talk), seed, pacer = job
    scenario = Scenario(agents=agents, answer_rate=answer, talk_s=talk, hours=8.0, seed=seed)
    r = simulate(scenario, create_pacer(pacer, **PACERS[pacer]), pacer)
    return (agents, answer, talk), seed, pacer, r.abandon, r.occupancy


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
    ap.add_argument("--quick", action="store_true", help="a small grid, 3 seeds")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    args = ap.parse_args()
    cells, seeds = grid(args.quick)
    jobs = [(c, s, p) for c in cells for s in range(seeds) for p in PACERS]
    # the slowest jobs first, so the pool does not end waiting on one long run
    jobs.sort(key=lambda j: -j[0][0] / j[0][2] / j[0][1])
    started = time.perf_counter()
    abandon: dict[tuple[Cell, str], list[float]] = defaultdict(list)
    occ: dict[tuple[Cell, str], list[float]] = defaultdict(list)
    with Pool(args.jobs) as pool:
        for cell, _seed, pacer, ab, oc in pool.imap_unordered(run_one, jobs, chunksize=2):
            abandon[cell, pacer].append(ab)
            occ[cell, pacer].append(oc)
    wall = time.perf_counter() - started
    print(f"{len(jobs)} simulated 8 h days in {wall:.0f} s on {args.jobs} processes")
    print("abandon % mean/max over seeds, talk occupancy % mean; gain = erlang − vicidial\n")
    head = f"{'agents':>6} {'answer':>6} {'talk':>5} |"
    for p in PACERS:
        head += f" {p + ' ab%':>14} {'occ%':>5} |"
    print(head + f" {'gain':>5}")
    gains: list[float] = []
    worst_abandon = 0.0
    lost_cells = []
    for cell in cells:
        line = f"{cell[0]:>6} {cell[1]:>6.2f} {cell[2]:>5.0f} |"
        for p in PACERS:
            ab = abandon[cell, p]
            line += (
                f" {100 * statistics.mean(ab):6.2f}/{100 * max(ab):5.2f}"
                f" {100 * statistics.mean(occ[cell, p]):6.1f} |"
            )
        gain = 100 * (statistics.mean(occ[cell, "erlang"]) - statistics.mean(occ[cell, "vicidial"]))
        gains.append(gain)
        worst_abandon = max(worst_abandon, max(abandon[cell, "erlang"]))
        if gain <= 0:
            lost_cells.append(cell)
        print(line + f" {gain:+5.1f}")
    print("\nper pacer over all cells (abandon % mean/max, occupancy % mean):")
    for p in PACERS:
        ab = [a for c in cells for a in abandon[c, p]]
        oc = [o for c in cells for o in occ[c, p]]
        print(f"  {p:8s} {100 * statistics.mean(ab):5.2f}/{100 * max(ab):5.2f}"
              f"  {100 * statistics.mean(oc):5.1f}")  # fmt: skip
    mean_gain = statistics.mean(gains)
    ok_abandon = worst_abandon <= TARGET_ABANDON
    ok_cells = not lost_cells
    ok_gain = mean_gain >= TARGET_GAIN_POINTS
    print("\ntargets:")
    print(f"  erlang abandon <= 3.0 % in every run: worst {100 * worst_abandon:.2f} % "
          f"{'PASS' if ok_abandon else 'FAIL'}")  # fmt: skip
    print(f"  erlang occupancy above vicidial in every cell: "
          f"{'PASS' if ok_cells else f'FAIL in {lost_cells}'}")  # fmt: skip
    print(f"  mean gain >= {TARGET_GAIN_POINTS} points: {mean_gain:+.1f} "
          f"{'PASS' if ok_gain else 'FAIL'}")  # fmt: skip
    speed()
    return 0 if ok_abandon and ok_cells and ok_gain else 1


if __name__ == "__main__":
    sys.exit(main())
