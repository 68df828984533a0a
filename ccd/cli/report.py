"""`ccd report`: the reporting views as a terminal table, CSV or an Excel workbook."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, fail, run, with_conn
from ccd.store import reports
from ccd.store.export import ExportError, Format, is_percent_column, open_sink, use_time_zone

app = typer.Typer(
    help="Reports from the reporting views (docs/reporting.md).", no_args_is_help=True
)

DEFAULT_DAYS = 30


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    XLSX = "xlsx"


FromOpt = Annotated[
    datetime | None,
    typer.Option(
        "--from", formats=["%Y-%m-%d"], help=f"first day (default: --to - {DEFAULT_DAYS - 1})"
    ),
]
ToOpt = Annotated[
    datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="last day (default: today)")
]
FormatOpt = Annotated[ReportFormat, typer.Option("--format", "-f", help="table, csv or xlsx")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="file to write (csv: default stdout)")
]
TzOpt = Annotated[
    str | None, typer.Option("--tz", help="time zone of days and times (default: the database's)")
]


def _days(d_from: datetime | None, d_to: datetime | None, today: date) -> tuple[date, date]:
    last = d_to.date() if d_to else today
    first = d_from.date() if d_from else last - timedelta(days=DEFAULT_DAYS - 1)
    return first, last


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal) and is_percent_column(column):
        return f"{value * 100:.2f}%"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _show(report: reports.Report, title: str) -> None:
    table = Table(title=title)
    for name in report.columns:
        table.add_column(name, overflow="fold")
    for row in report.rows:
        table.add_row(*(_cell(c, v) for c, v in zip(report.columns, row, strict=True)))
    # Piped output is not cut to 80 columns: the table keeps its natural width.
    wide = Console(width=4000, markup=False, emoji=False)
    (console if console.is_terminal else wide).print(table)


def _emit(
    fetch: Callable[[asyncpg.Connection, date, date], Awaitable[reports.Report]],
    title: str,
    d_from: datetime | None,
    d_to: datetime | None,
    fmt: ReportFormat,
    out: Path | None,
    tz: str | None,
) -> None:
    if fmt is ReportFormat.TABLE and out is not None:
        fail("--out needs --format csv or xlsx", code=EXIT_USAGE)

    async def go(conn: asyncpg.Connection) -> None:
        zone = await use_time_zone(conn, tz)
        first, last = _days(d_from, d_to, datetime.now(zone).date())
        report = await fetch(conn, first, last)
        if fmt is ReportFormat.TABLE:
            _show(report, f"{title}, {first} .. {last}")
            return
        sink_format: Format = "csv" if fmt is ReportFormat.CSV else "xlsx"
        with open_sink(sink_format, report.columns, out, tz=zone, sheet=title) as sink:
            for row in report.rows:
                sink.write(row)
        if out is not None:
            console.print(f"{len(report.rows)} rows written to {out}", highlight=False)

    try:
        run(lambda: with_conn(go))
    except (reports.ReportError, ExportError) as exc:
        fail(str(exc), code=EXIT_USAGE)


@app.command()
def campaign(
    name: Annotated[str, typer.Argument(help="campaign name")],
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
    tz: TzOpt = None,
) -> None:
    """A campaign's days: attempts, contacts, answer/abandon rates, talk, dispositions."""
    _emit(
        lambda conn, first, last: reports.campaign_daily(conn, name, first, last),
        f"campaign {name}", d_from, d_to, fmt, out, tz,
    )  # fmt: skip


@app.command()
def mailing(
    name: Annotated[str, typer.Argument(help="mailing name")],
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
) -> None:
    """A mailing per segment and channel: planned, sent, delivered, failed, unknown, left
    out, opted out through its links."""
    _emit(
        lambda conn, first, last: reports.mailing_summary(conn, name),
        f"mailing {name}", None, None, fmt, out, None,
    )  # fmt: skip


@app.command()
def agents(
    campaign_name: Annotated[
        str | None, typer.Option("--campaign", help="only the agents of this campaign")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="only this agent login")] = None,
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
    tz: TzOpt = None,
) -> None:
    """Agents' days: logged-in, ready, talk, wrap, pause by reason, calls, occupancy."""
    _emit(
        lambda conn, first, last: reports.agent_daily(
            conn, first, last, campaign=campaign_name, agent=agent
        ),
        "agents", d_from, d_to, fmt, out, tz,
    )  # fmt: skip


@app.command()
def hourly(
    name: Annotated[str, typer.Argument(help="campaign name")],
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
    tz: TzOpt = None,
) -> None:
    """A campaign's attempts per day, hour and outcome."""
    _emit(
        lambda conn, first, last: reports.hourly_outcomes(conn, name, first, last),
        f"hourly {name}", d_from, d_to, fmt, out, tz,
    )  # fmt: skip


@app.command()
def penetration(
    name: Annotated[str | None, typer.Argument(help="campaign name (default: all)")] = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
) -> None:
    """How far each list has been worked: leads by status, dialed share."""
    _emit(
        lambda conn, first, last: reports.list_penetration(conn, name),
        "list penetration", None, None, fmt, out, None,
    )  # fmt: skip


@app.command()
def trunks(
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
    tz: TzOpt = None,
) -> None:
    """Attempts, answer-seizure ratio and failures per trunk and day."""
    _emit(reports.trunk_daily, "trunks", d_from, d_to, fmt, out, tz)


@app.command()
def queues(
    queue: Annotated[str | None, typer.Option("--queue", help="only this queue")] = None,
    sl: Annotated[int, typer.Option("--sl", help="service-level threshold, seconds")] = 20,
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    fmt: FormatOpt = ReportFormat.TABLE,
    out: OutOpt = None,
    tz: TzOpt = None,
) -> None:
    """Inbound queues per hour: offered, answered, abandoned, ASA, service level."""
    _emit(
        lambda conn, first, last: reports.queue_hourly(conn, first, last, queue=queue, sl_s=sl),
        "queues", d_from, d_to, fmt, out, tz,
    )  # fmt: skip
