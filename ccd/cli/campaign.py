"""`ccd campaign`: create, list, inspect, start/pause/stop, delete, load leads."""

from __future__ import annotations

import re
from contextlib import nullcontext
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ccd.cli.common import EXIT_USAGE, RegionOpt, RejectsOpt, console, fail, run, with_conn
from ccd.domain.calling_hours import format_days, format_hours, parse_days, parse_hours
from ccd.domain.campaigns import (
    DEFAULT_SAFE_HARBOR_MEDIA,
    AbandonWindow,
    CampaignMode,
    CampaignStatus,
    TransitionError,
)
from ccd.domain.dispositions import MAX_RETRY_DELAY_S, Disposition, RetryRule, RetryRules
from ccd.domain.recording import (
    DEFAULT_RETENTION_DAYS,
    format_record,
    parse_record,
)
from ccd.store import campaigns as store
from ccd.store.leads_import import ImportResult, LeadImportError, import_leads, parse_column_map

app = typer.Typer(
    help="Campaigns: create, list, status, start/pause/stop, delete, load leads.",
    no_args_is_help=True,
)

# The option that sets each CampaignSpec field, so that errors name what the user typed.
_FLAG = {
    "name": "NAME", "mode": "--mode", "caller_id": "--caller-id", "trunk": "--trunk",
    "dial_timeout_s": "--dial-timeout", "max_attempts": "--max-attempts",
    "target_abandon": "--target-abandon", "pacer": "--pacer", "dial_ratio": "--ratio",
    "max_ratio": "--max-ratio", "abandon_window": "--abandon-window",
    "time_zone": "--time-zone", "days": "--days",
    "hours_start": "--hours", "hours_end": "--hours", "retry_rules": "--retry-rule",
    "record_notice": "--record-notice", "safe_harbor_media": "--safe-harbor",
}  # fmt: skip
class RecordFormatOption(StrEnum):  # typer's choices; = ccd.domain.recording.RECORD_FORMATS
    wav = "wav"
    gsm = "gsm"
    ulaw = "ulaw"


_DELAY = re.compile(r"^([0-9]+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_retry_rule(text: str) -> tuple[Disposition, RetryRule]:
    """'NO_ANSWER=retry:2h' -> (NO_ANSWER, retry after 7200 s). Delay units: s, m, h, d."""
    key, sep, action_text = text.partition("=")
    if not sep:
        raise ValueError(f"expected DISPOSITION=ACTION[:DELAY], got {text!r}")
    try:
        disposition = Disposition(key.strip().upper())
    except ValueError:
        known = ", ".join(d.value for d in Disposition)
        raise ValueError(f"unknown disposition {key.strip()!r} (known: {known})") from None
    action, _, delay_text = action_text.strip().partition(":")
    if action not in ("retry", "blacklist", "callback", "done"):
        raise ValueError(
            f"{key}: action must be retry, blacklist, callback or done, got {action!r}"
        )
    delay_s = 0
    if delay_text:
        m = _DELAY.match(delay_text.strip())
        if not m:
            raise ValueError(f"{key}: delay must look like 90, 30m, 2h or 1d, got {delay_text!r}")
        digits, unit = m.groups()
        delay_s = int(digits) * _UNIT_S[unit] if len(digits) <= 9 else MAX_RETRY_DELAY_S + 1
        if delay_s > MAX_RETRY_DELAY_S:
            raise ValueError(f"{key}: delay is at most 365d, got {delay_text!r}")
    # Validated by the model: mypy does not narrow `action` to the Literal by the check above.
    return disposition, RetryRule.model_validate({"action": action, "delay_s": delay_s})


def _usage(flag: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=f"'{flag}'")


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{_FLAG.get(field, field or 'campaign')}: {msg}")
    return "; ".join(parts)


def _check_dial_timeout(value: int) -> int:
    if value < 15:
        raise typer.BadParameter(
            f"must be at least 15 seconds (ring at least 15 s before giving up), got {value}"
        )
    return value


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="unique campaign name")],
    mode: Annotated[CampaignMode, typer.Option("--mode", help="dialing mode")] = CampaignMode.POWER,
    caller_id: Annotated[str, typer.Option("--caller-id", help="number shown to callees")] = "",
    trunk: Annotated[
        str | None, typer.Option("--trunk", help="pin a trunk by name (default: by route prefix)")
    ] = None,
    dial_timeout: Annotated[
        int,
        typer.Option("--dial-timeout", callback=_check_dial_timeout, help="ring time, s (>= 15)"),
    ] = 30,
    max_attempts: Annotated[
        int, typer.Option("--max-attempts", help="attempts per contact before it is exhausted")
    ] = 5,
    target_abandon: Annotated[
        float, typer.Option("--target-abandon", help="abandon (drop) rate limit, percent")
    ] = 3.0,
    abandon_window: Annotated[
        AbandonWindow,
        typer.Option(
            "--abandon-window",
            help="span the abandon limit holds over: 30d (US rule, per campaign) or 24h (UK)",
        ),
    ] = AbandonWindow.DAYS_30,
    ratio: Annotated[
        float, typer.Option("--ratio", help="dial ratio (calls per free agent) for --pacer ratio")
    ] = 1.5,
    max_ratio: Annotated[float, typer.Option("--max-ratio", help="ceiling on any ratio")] = 3.0,
    pacer: Annotated[
        str,
        typer.Option(
            "--pacer",
            help="erlang (live estimates, abandon limit), ratio (--ratio), power, vicidial",
        ),
    ] = "erlang",
    amd: Annotated[
        bool, typer.Option("--amd/--no-amd", help="answering machine detection")
    ] = False,
    fax_detect: Annotated[
        bool, typer.Option("--fax-detect/--no-fax-detect", help="fax tone detection")
    ] = True,
    hours: Annotated[
        str, typer.Option("--hours", help="calling hours, contact's local time: 09:00-21:00")
    ] = "09:00-21:00",
    days: Annotated[
        str, typer.Option("--days", help="ISO weekdays (1 = Monday): 1-5, 1-5,7, 6,7")
    ] = "1-7",
    time_zone: Annotated[
        str,
        typer.Option("--time-zone", help="IANA zone for contacts whose own zone is unknown"),
    ] = "UTC",
    retry_rule: Annotated[
        list[str] | None,
        typer.Option(
            "--retry-rule",
            help="DISPOSITION=ACTION[:DELAY], e.g. NO_ANSWER=retry:2h, FAX=blacklist; repeatable",
        ),
    ] = None,
    safe_harbor: Annotated[
        str, typer.Option("--safe-harbor", help="media played when no agent is free")
    ] = DEFAULT_SAFE_HARBOR_MEDIA,
    record: Annotated[
        str, typer.Option("--record", help="record talked calls: all, none or a percentage")
    ] = "none",
    record_format: Annotated[
        RecordFormatOption, typer.Option("--record-format", help="recording file format")
    ] = RecordFormatOption.wav,
    record_notice: Annotated[
        str | None,
        typer.Option("--record-notice", help="media played to the customer when connected"),
    ] = None,
    recording_retention: Annotated[
        int, typer.Option("--recording-retention", min=1, help="days recordings are kept")
    ] = DEFAULT_RETENTION_DAYS,
) -> None:
    """Create a campaign (status draft); load leads with `ccd campaign load`, then start it."""
    try:
        start, end = parse_hours(hours)
    except ValueError as exc:
        raise _usage("--hours", str(exc)) from None
    try:
        day_set = parse_days(days)
    except ValueError as exc:
        raise _usage("--days", str(exc)) from None
    rules: dict[Disposition, RetryRule] = {}
    for text in retry_rule or []:
        try:
            disposition, rule = parse_retry_rule(text)
        except ValueError as exc:
            raise _usage("--retry-rule", str(exc)) from None
        rules[disposition] = rule
    try:
        record_pct = parse_record(record)
    except ValueError as exc:
        raise _usage("--record", str(exc)) from None
    if not 0 <= target_abandon <= 100:
        raise _usage("--target-abandon", f"a percentage from 0 to 100, got {target_abandon}")
    try:
        spec = store.CampaignSpec(
            name=name, mode=mode, caller_id=caller_id, trunk=trunk, dial_timeout_s=dial_timeout,
            max_attempts=max_attempts,
            target_abandon=(Decimal(str(target_abandon)) / 100).quantize(Decimal("0.0001")),
            abandon_window=abandon_window,
            pacer=pacer, dial_ratio=Decimal(str(ratio)), max_ratio=Decimal(str(max_ratio)),
            amd=amd, fax_detect=fax_detect, hours_start=start, hours_end=end,
            days=sorted(day_set), time_zone=time_zone, retry_rules=RetryRules(rules=rules),
            safe_harbor_media=safe_harbor, record_pct=record_pct,
            record_format=record_format.value, record_notice=record_notice,
            recording_retention_days=recording_retention,
        )  # fmt: skip
    except ValidationError as exc:
        fail(_validation_message(exc), code=EXIT_USAGE)

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.create_campaign(conn, spec)
        except store.CampaignError as exc:
            fail(str(exc), code=EXIT_USAGE)

    campaign_id = run(lambda: with_conn(go))
    console.print(f"campaign {name} created (id {campaign_id}, {mode.value}, draft)")


@app.command("list")
def list_() -> None:
    """List campaigns with their status and lead counts."""
    rows = run(lambda: with_conn(store.list_campaigns))
    table = Table("id", "name", "mode", "status", "leads", "created")
    for r in rows:
        table.add_row(
            str(r["id"]), r["name"], r["mode"], r["status"], str(r["leads"]),
            r["created_at"].strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    console.print(table)


@app.command()
def status(name: Annotated[str, typer.Argument(help="campaign name")]) -> None:
    """Show a campaign: settings, leads by status, today's attempts, answers, drops, abandon %."""

    async def go(conn: asyncpg.Connection) -> tuple[asyncpg.Record, store.CampaignStats]:
        try:
            row = await store.get_campaign(conn, name)
        except store.CampaignNotFound as exc:
            fail(str(exc), code=EXIT_USAGE)
        return row, await store.campaign_stats(conn, row["id"])

    c, stats = run(lambda: with_conn(go))
    console.print(
        Text.assemble(
            (c["name"], "bold"),
            f" (id {c['id']}): {c['status']}, {c['mode']}, "
            f"pacer {c['pacer']}, ratio {c['dial_ratio']} (max {c['max_ratio']})",
        ),
        highlight=False,
    )
    console.print(
        f"hours {format_hours(c['calling_hours_start'], c['calling_hours_end'])} "
        f"days {format_days(c['calling_days'])} zone {c['time_zone']}; "
        f"ring {c['dial_timeout_s']} s, max attempts {c['max_attempts']}, "
        f"abandon limit {c['target_abandon'] * 100:.1f} % over {c['abandon_window']}, "
        f"trunk {c['trunk'] or 'by route'}",
        highlight=False,
    )
    console.print(
        f"recording {format_record(c['record_pct'])} ({c['record_format']}), notice "
        f"{c['record_notice'] or 'none'}, kept {c['recording_retention_days']} days",
        highlight=False,
    )
    leads = Table("lead status", "count")
    total = 0
    for lead_status, count in sorted(stats.leads_by_status.items()):
        leads.add_row(lead_status, str(count))
        total += count
    leads.add_row(Text("total", style="bold"), Text(str(total), style="bold"))
    console.print(leads)
    abandon = stats.abandon_pct_today
    today = Table("today", "count")
    today.add_row("attempts", str(stats.attempts_today))
    today.add_row("live now", str(stats.live_attempts))
    today.add_row("answered", str(stats.answered_today))
    today.add_row("drops", str(stats.drops_today))
    today.add_row("abandon %", "-" if abandon is None else f"{abandon:.2f}")
    console.print(today)
    # What the pacer holds under the limit: the window; the run is shown beside it.
    rates = Table("abandon", "answered", "dropped", "abandon %")
    spans = [("this run", stats.run), (f"last {stats.abandon_window.value}", stats.window)]
    for label, counts in spans:
        if counts is None:
            rates.add_row(label, "-", "-", "-")
            continue
        rate = counts.rate
        pct = "-" if rate is None else f"{100 * rate:.2f}"
        rates.add_row(label, str(counts.answered), str(counts.dropped), pct)
    console.print(rates)


def _move(name: str, target: CampaignStatus) -> None:
    async def go(conn: asyncpg.Connection) -> tuple[CampaignStatus, CampaignStatus]:
        try:
            return await store.set_status(conn, name, target)
        except (store.CampaignNotFound, TransitionError) as exc:
            fail(str(exc), code=EXIT_USAGE)

    old, new = run(lambda: with_conn(go))
    if old == new:
        console.print(f"campaign {name} is {new.value} already")
    else:
        console.print(f"campaign {name}: {old.value} -> {new.value}")


@app.command()
def start(name: Annotated[str, typer.Argument(help="campaign name")]) -> None:
    """Start (or resume) dialing; a running ccd daemon picks it up at once."""
    _move(name, CampaignStatus.RUNNING)


@app.command()
def pause(name: Annotated[str, typer.Argument(help="campaign name")]) -> None:
    """Pause dialing: calls in progress finish, no new ones are placed."""
    _move(name, CampaignStatus.PAUSED)


@app.command()
def stop(name: Annotated[str, typer.Argument(help="campaign name")]) -> None:
    """Stop the campaign (start it again later, or delete it)."""
    _move(name, CampaignStatus.STOPPED)


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="campaign name")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Delete a draft, stopped or completed campaign with its leads and attempts."""
    if not yes:
        typer.confirm(f"delete campaign {name} with all its leads and attempts?", abort=True)

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.delete_campaign(conn, name)
        except store.CampaignError as exc:
            fail(str(exc), code=EXIT_USAGE)

    leads = run(lambda: with_conn(go))
    console.print(f"campaign {name} deleted ({leads} leads)")


def progress_bar(kind: str) -> Progress:
    """A bar for a file import: bytes for CSV, rows for XLSX."""
    # The description holds a file name: not markup.
    columns = [TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn()]
    columns += [DownloadColumn()] if kind == "csv" else []
    return Progress(*columns, TimeRemainingColumn(), console=console, transient=True)


@app.command()
def load(
    name: Annotated[str, typer.Argument(help="campaign name")],
    file: Annotated[Path, typer.Argument(help="CSV or XLSX lead file")],
    column_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="columns for phone, name, priority, timezone: phone=Телефон,name=ФИО",
        ),
    ] = None,
    region: RegionOpt = None,
    rejects: RejectsOpt = None,
    priority: Annotated[
        int, typer.Option("--priority", help="priority of rows without a priority column")
    ] = 0,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="the CSV's encoding, e.g. latin-1 (default: guessed)"),
    ] = None,
) -> None:
    """Load leads from a CSV (UTF-8, cp1251 or cp1252 guessed; any delimiter) or XLSX file,
    all or nothing."""
    try:
        mapping = parse_column_map(column_map) if column_map else None
    except ValueError as exc:
        raise _usage("--map", str(exc).removeprefix("--map: ")) from None
    kind = "xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    bar = progress_bar(kind) if console.is_terminal else None

    async def go(conn: asyncpg.Connection) -> ImportResult:
        campaign_id = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", name)
        if campaign_id is None:
            fail(f"no campaign named {name!r} (see `ccd campaign list`)", code=EXIT_USAGE)
        task = bar.add_task(f"loading {file.name}", total=None) if bar else None

        def advance(done: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=done, total=total or None)

        try:
            return await import_leads(
                conn, campaign_id, file, column_map=mapping, region=region,
                rejects_path=rejects, default_priority=priority, progress=advance,
                encoding=encoding,
            )  # fmt: skip
        except LeadImportError as exc:
            fail(str(exc), code=EXIT_USAGE)

    with bar or nullcontext():
        result = run(lambda: with_conn(go))
    print_import_summary(name, result)


def print_import_summary(name: str, r: ImportResult) -> None:
    encoding = ""
    if r.encoding and r.encoding_confidence is None:
        encoding = f", read as {r.encoding} (as --encoding said)"
    elif r.encoding:
        encoding = (
            f", read as {r.encoding} (guessed, {r.encoding_confidence:.0%} sure;"
            " --encoding overrides)"
        )
    console.print(f"{r.rows} rows in the file{encoding}", highlight=False)
    console.print(f"loaded:      {r.loaded} into {name}", highlight=False)
    console.print(f"duplicate:   {r.duplicates}", highlight=False)
    console.print(f"blacklisted: {r.blacklisted} (loaded, never dialed)", highlight=False)
    where = f" -> {r.rejects_path}" if r.rejects_path else ""
    if r.rejects_unwritten:
        where += f" ({r.rejects_unwritten} of them not written: the file reached its size limit)"
    console.print(f"rejected:    {r.rejected}{where}", highlight=False)
