"""`ccd export`: a campaign's attempts or leads as CSV or XLSX, streamed in constant memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
import typer

from ccd.cli.common import EXIT_USAGE, err_console, fail, run, with_conn
from ccd.store.export import ExportError, export_inbox, export_rows, use_time_zone
from ccd.store.reports import ReportError

app = typer.Typer(
    help="Export a campaign's attempts or leads, a mailing's messages, the SMS inbox (CSV, XLSX).",
    no_args_is_help=True,
)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


async def _days(
    conn: asyncpg.Connection, tz: str | None, d_from: datetime | None, d_to: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """--from/--to as times: days of the chosen zone; --to is the last day included."""
    zone = await use_time_zone(conn, tz)
    since = d_from.replace(tzinfo=zone) if d_from else None
    until = d_to.replace(tzinfo=zone) + timedelta(days=1) if d_to else None
    return since, until


def _exported(
    fn: Callable[[asyncpg.Connection], Awaitable[int]], what: str, out: Path | None
) -> None:
    try:
        n = run(lambda: with_conn(fn))
    except (ReportError, ExportError) as exc:
        fail(str(exc), code=EXIT_USAGE)
    err_console.print(f"{n} {what} exported" + (f" to {out}" if out else ""), highlight=False)


def _export(
    what: Literal["attempts", "leads", "messages"],
    campaign: str,
    fmt: ExportFormat,
    out: Path | None,
    d_from: datetime | None,
    d_to: datetime | None,
    tz: str | None,
) -> None:
    async def go(conn: asyncpg.Connection) -> int:
        since, until = await _days(conn, tz, d_from, d_to)
        return await export_rows(conn, what, campaign, fmt.value, out, since=since, until=until)

    _exported(go, what, out)


FormatOpt = Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or xlsx")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="file to write (csv: default stdout)")
]
FromOpt = Annotated[
    datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="first day (created)")
]
ToOpt = Annotated[
    datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="last day (created)")
]
TzOpt = Annotated[str | None, typer.Option("--tz", help="time zone for days and times")]
NameArg = Annotated[str, typer.Argument(help="campaign name")]


@app.command()
def attempts(
    campaign: NameArg,
    fmt: FormatOpt = ExportFormat.CSV,
    out: OutOpt = None,
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    tz: TzOpt = None,
) -> None:
    """Every call attempt of the campaign, oldest first, with times, causes and disposition."""
    _export("attempts", campaign, fmt, out, d_from, d_to, tz)


@app.command()
def leads(
    campaign: NameArg,
    fmt: FormatOpt = ExportFormat.CSV,
    out: OutOpt = None,
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    tz: TzOpt = None,
) -> None:
    """Every lead of the campaign with its status, attempts and next call time."""
    _export("leads", campaign, fmt, out, d_from, d_to, tz)


@app.command()
def messages(
    mailing: Annotated[str, typer.Argument(help="mailing name")],
    fmt: FormatOpt = ExportFormat.CSV,
    out: OutOpt = None,
    d_from: FromOpt = None,
    d_to: ToOpt = None,
    tz: TzOpt = None,
) -> None:
    """Every message of the mailing (one row per person): segment, channel, address, state,
    reason, text and times."""
    _export("messages", mailing, fmt, out, d_from, d_to, tz)


@app.command()
def inbox(
    fmt: FormatOpt = ExportFormat.CSV,
    out: OutOpt = None,
    d_from: Annotated[
        datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="first day (received)")
    ] = None,
    d_to: Annotated[
        datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="last day (received)")
    ] = None,
    code: Annotated[
        str | None, typer.Option("--code", help="one keyword's messages ('' = no keyword)")
    ] = None,
    tz: TzOpt = None,
) -> None:
    """Customers' SMS: sender, contact, text, keyword, status, who has it, first reply and
    response time."""

    async def go(conn: asyncpg.Connection) -> int:
        since, until = await _days(conn, tz, d_from, d_to)
        return await export_inbox(conn, fmt.value, out, code=code, since=since, until=until)

    _exported(go, "inbound messages", out)
