"""`ccd simulate` (a campaign's day under each pacer) and `ccd erlang` (staffing calculator)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from rich.table import Table
from rich.text import Text

from ccd.cli.common import EXIT_USAGE, console, fail, run, with_conn
from ccd.pacing import create_pacer, erlang
from ccd.sim.callcenter import Scenario, SimResult, simulate

DEFAULT_PACERS = ["power", "vicidial", "erlang"]


def parse_pacer(spec: str) -> tuple[str, dict[str, float]]:
    """'name' or 'name:key=value,key=value' -> (name, params); ValueError says what is wrong."""
    name, _, rest = spec.partition(":")
    params: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"pacer {spec!r}: expected key=value, got {item!r}")
        try:
            params[key.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"pacer {spec!r}: {key.strip()} must be a number, got {value!r}"
            ) from None
    create_pacer(name.strip(), **params)  # validates name and parameters now, not mid-run
    return name.strip(), params


# The attempt history of one campaign, reduced to the scenario's parameters. People =
# ANSWERED or DROPPED (a person picked up); early = unanswered calls that ended well before
# the dial timeout (busy, congestion, bad numbers).
FIT_SQL = """
WITH a AS (
    SELECT a.*, c.dial_timeout_s,
           extract(epoch FROM a.answered_at - a.originated_at) AS ring_s,
           extract(epoch FROM a.ended_at - a.originated_at) AS life_s,
           extract(epoch FROM a.ended_at - a.bridged_at) AS talk_s,
           extract(epoch FROM a.wrapup_ended_at - a.ended_at) AS wrap_s,
           extract(epoch FROM a.ended_at - a.answered_at) AS machine_s
    FROM campaigns c
    JOIN attempts a ON a.campaign_id = c.id
    WHERE c.name = $1 AND a.ended_at IS NOT NULL AND a.originated_at IS NOT NULL
)
SELECT
    count(*) AS attempts,
    count(*) FILTER (WHERE outcome IN ('ANSWERED', 'DROPPED')) AS people,
    count(*) FILTER (WHERE outcome = 'MACHINE') AS machines,
    count(DISTINCT agent_id) AS agents,
    max(dial_timeout_s) AS dial_timeout_s,
    avg(ring_s) FILTER (WHERE outcome IN ('ANSWERED', 'DROPPED')) AS ring_answer_s,
    stddev_samp(ring_s) FILTER (WHERE outcome IN ('ANSWERED', 'DROPPED')) AS ring_sd,
    avg(talk_s) FILTER (WHERE bridged_at IS NOT NULL) AS talk_s,
    stddev_samp(talk_s) FILTER (WHERE bridged_at IS NOT NULL) AS talk_sd,
    avg(wrap_s) FILTER (WHERE bridged_at IS NOT NULL AND wrapup_ended_at IS NOT NULL) AS wrap_s,
    stddev_samp(wrap_s)
        FILTER (WHERE bridged_at IS NOT NULL AND wrapup_ended_at IS NOT NULL) AS wrap_sd,
    avg(machine_s) FILTER (WHERE outcome = 'MACHINE') AS amd_s,
    count(*) FILTER (WHERE answered_at IS NULL AND life_s < dial_timeout_s - 1) AS early,
    count(*) FILTER (WHERE answered_at IS NULL) AS unanswered,
    avg(life_s) FILTER (WHERE answered_at IS NULL AND life_s < dial_timeout_s - 1) AS early_s
FROM a
"""
MIN_PEOPLE = 20  # answered calls needed before the fitted means say anything


async def fit_campaign(conn: asyncpg.Connection, name: str) -> dict[str, Any]:
    """Scenario fields fitted from campaign `name`'s ended attempts (ValueError if too few)."""
    if await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", name) is None:
        raise ValueError(f"no campaign named {name!r}")
    row = await conn.fetchrow(FIT_SQL, name)
    assert row is not None
    if row["people"] < MIN_PEOPLE or row["talk_s"] is None:
        raise ValueError(
            f"campaign {name!r} has {row['people']} answered attempts with talk times; "
            f"at least {MIN_PEOPLE} are needed to fit a scenario"
        )

    def cv(mean: float | None, sd: float | None) -> float:
        return float(sd) / float(mean) if mean and sd else 0.0

    fitted: dict[str, Any] = {
        "answer_rate": row["people"] / row["attempts"],
        "machine_rate": row["machines"] / row["attempts"],
        "dial_timeout_s": float(row["dial_timeout_s"]),
        "ring_answer_s": float(row["ring_answer_s"]),
        "ring_cv": cv(row["ring_answer_s"], row["ring_sd"]),
        "talk_s": float(row["talk_s"]),
        "talk_cv": cv(row["talk_s"], row["talk_sd"]),
    }
    if row["agents"]:
        fitted["agents"] = int(row["agents"])
    if row["wrap_s"] is not None and row["wrap_s"] > 0:
        fitted |= {"wrap_s": float(row["wrap_s"]), "wrap_cv": cv(row["wrap_s"], row["wrap_sd"])}
    if row["amd_s"] is not None:
        fitted["amd_s"] = float(row["amd_s"])
    if row["unanswered"]:
        fitted["fail_rate"] = row["early"] / row["unanswered"]
    if row["early_s"] is not None and row["early_s"] > 0:
        fitted["fail_s"] = float(row["early_s"])
    return fitted


def results_table(results: list[SimResult]) -> Table:
    table = Table(title="simulated day per pacer")
    for col in ("pacer", "attempts", "answered", "dropped", "abandon %", "talk occupancy %",
                "idle min / agent-hour"):  # fmt: skip
        table.add_column(col, justify="left" if col == "pacer" else "right")
    for r in results:
        table.add_row(
            r.pacer,
            f"{r.attempts}",
            f"{r.answered}",
            f"{r.dropped}",
            f"{100 * r.abandon:.2f}",
            f"{100 * r.occupancy:.1f}",
            f"{r.idle_min_per_agent_hour:.1f}",
        )
    return table


def plot_timelines(results: list[SimResult], path: Path, target: float | None) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("--plot needs matplotlib: pip install 'ccd[plot]'", code=EXIT_USAGE)
    fig, (occ, ab) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    for r in results:
        hours = [b.end_s / 3600 for b in r.timeline]
        occ.plot(hours, [100 * b.occupancy for b in r.timeline], label=r.pacer)
        ab.plot(hours, [100 * b.abandon for b in r.timeline], label=r.pacer)
    if target is not None:
        ab.axhline(100 * target, color="grey", linestyle="--", linewidth=1, label="target")
    occ.set_ylabel("talk occupancy %")
    ab.set_ylabel("cumulative abandon %")
    ab.set_xlabel("hour of the day")
    occ.legend(loc="lower right")
    ab.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def simulate_cmd(
    pacer: Annotated[
        list[str] | None,
        typer.Option(
            "--pacer",
            "-p",
            help="pacer to run, repeatable: NAME or NAME:key=value,... "
            "(power, ratio:ratio=2, vicidial, erlang:target_abandon=0.03,max_ratio=3)",
        ),
    ] = None,
    agents: Annotated[int | None, typer.Option(min=1, help="agents staffed all day [20]")] = None,
    hours: Annotated[float | None, typer.Option(min=0.01, help="length of the day [8]")] = None,
    answer_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="P(a person answers) [0.25]")
    ] = None,
    machine_rate: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="P(an answering machine) [0]")
    ] = None,
    talk: Annotated[float | None, typer.Option(min=0.1, help="mean talk seconds [180]")] = None,
    wrap: Annotated[float | None, typer.Option(min=0.1, help="mean wrap-up seconds [15]")] = None,
    dial_timeout: Annotated[
        float | None, typer.Option(min=1.0, help="seconds before an unanswered call gives up [25]")
    ] = None,
    lines: Annotated[int | None, typer.Option(min=0, help="trunk channels, 0 = unlimited")] = None,
    seed: Annotated[int, typer.Option(help="random seed; same seed, same day")] = 0,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG of occupancy and abandon over the day")
    ] = None,
    from_campaign: Annotated[
        str | None,
        typer.Option(
            help="fit answer rate, ring, talk and wrap times, agents from this "
            "campaign's attempts in the database; options given override"
        ),  # fmt: skip
    ] = None,
) -> None:
    """Simulate an outbound campaign's day under each pacer and compare them."""
    try:
        pacers = [parse_pacer(s) for s in (pacer or DEFAULT_PACERS)]
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)
    fitted: dict[str, Any] = {}
    if from_campaign is not None:
        try:
            fitted = run(lambda: with_conn(lambda conn: fit_campaign(conn, from_campaign)))
        except ValueError as exc:
            fail(str(exc), code=EXIT_USAGE)
        shown = ", ".join(f"{k}={v:.3g}" for k, v in fitted.items())
        console.print(
            f"fitted from campaign {from_campaign}: {shown}", highlight=False, soft_wrap=True
        )
    given = {
        "agents": agents, "hours": hours, "answer_rate": answer_rate,
        "machine_rate": machine_rate, "talk_s": talk, "wrap_s": wrap,
        "dial_timeout_s": dial_timeout, "lines": lines,
    }  # fmt: skip
    values = fitted | {k: v for k, v in given.items() if v is not None} | {"seed": seed}
    known = {f.name for f in fields(Scenario)}
    try:
        scenario = Scenario(**{k: v for k, v in values.items() if k in known})
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)
    results = []
    for name, params in pacers:
        label = name + (":" + ",".join(f"{k}={v:g}" for k, v in params.items()) if params else "")
        results.append(simulate(scenario, create_pacer(name, **params), label))
    console.print(
        f"{scenario.agents if not scenario.shifts else 'shifts of'} agents, {scenario.hours:g} h, "
        f"answer {scenario.answer_rate:.2f}, talk {scenario.talk_s:.0f} s, "
        f"wrap {scenario.wrap_s:.0f} s, dial timeout {scenario.dial_timeout_s:.0f} s, "
        f"seed {scenario.seed}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(results_table(results))
    if plot is not None:
        targets = {p.get("target_abandon", 0.03) for n, p in pacers if n == "erlang"}
        plot_timelines(results, plot, targets.pop() if len(targets) == 1 else None)
        console.print(f"plot written to {plot}")


def erlang_cmd(
    rate: Annotated[float, typer.Option(min=0.0, help="calls per hour")],
    handle: Annotated[float, typer.Option(min=0.1, help="mean handle time, seconds")],
    service_level: Annotated[
        float, typer.Option(min=0.0, max=0.9999, help="share answered within --within")
    ] = 0.8,
    within: Annotated[float, typer.Option(min=0.0, help="service-level threshold, seconds")] = 20,
    agents: Annotated[
        int | None, typer.Option(min=1, help="evaluate this staffing instead of solving for it")
    ] = None,
) -> None:
    """Staffing calculator (Erlang C): agents for a service level, with ASA and occupancy."""
    per_s = rate / 3600.0
    load = per_s * handle
    need = erlang.agents_for_service_level(per_s, handle, service_level, within)
    table = Table(
        title=f"{rate:g} calls/h × {handle:g} s = {load:.2f} Erlangs; "
        f"target {100 * service_level:g} % in {within:g} s"
    )
    for col in ("agents", "P(wait)", f"answered ≤ {within:g} s", "ASA s", "occupancy %"):
        table.add_column(col, justify="right")
    shown = [agents] if agents is not None else range(max(need - 2, 1), need + 3)
    for n in shown:
        if n <= load:
            table.add_row(str(n), "1", "0", "∞ (overloaded)", "100")
            continue
        table.add_row(
            Text(str(n), style="bold") if n == need else str(n),
            f"{erlang.erlang_c(n, load):.3f}",
            f"{100 * erlang.service_level(n, load, within, handle):.1f} %",
            f"{erlang.average_speed_of_answer(n, load, handle):.1f}",
            f"{100 * erlang.occupancy(n, load):.1f}",
        )
    console.print(table)
    console.print(f"agents needed: {need}", highlight=False)
