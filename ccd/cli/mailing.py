"""`ccd mailing`: create from a variants file, preview, start/pause/stop (the running daemon
sends), status with live progress."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.live import Live
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, err_console, fail, run, state, with_conn
from ccd.domain.calling_hours import parse_hours, zone
from ccd.messaging import planner
from ccd.messaging.spec import SpecError, load_spec, missing_documents
from ccd.store import mailings as store

app = typer.Typer(
    help="Mailings: create, preview, start/pause/stop, status, list.", no_args_is_help=True
)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="mailing name")],
    variants: Annotated[Path, typer.Option("--variants", help="YAML file of the variants")],
    purpose: Annotated[str, typer.Option("--purpose", help="service or marketing")] = "marketing",
    opt_in: Annotated[
        bool, typer.Option("--opt-in/--no-opt-in", help="marketing only to contacts who opted in")
    ] = True,
    cap_days: Annotated[
        int | None,
        typer.Option("--cap-days", min=0, help="marketing cap in days (default: the setting)"),
    ] = None,
    hours: Annotated[
        str, typer.Option("--hours", help="sending hours in the contact's local time")
    ] = "09:00-21:00",
    time_zone: Annotated[
        str, typer.Option("--time-zone", help="zone of contacts whose own zone is unknown")
    ] = "UTC",
) -> None:
    """Create a mailing (a draft) from a variants file: per segment, the channels in order and
    a template per channel and language with a plain fallback."""
    if purpose not in ("service", "marketing"):
        raise typer.BadParameter("expected service or marketing", param_hint="'--purpose'")
    try:
        start, end = parse_hours(hours)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--hours'") from None
    if zone(time_zone) is None:
        raise typer.BadParameter(f"unknown IANA zone {time_zone!r}", param_hint="'--time-zone'")
    try:
        spec = load_spec(variants)
    except SpecError as exc:
        fail(str(exc), code=EXIT_USAGE)
    for where in missing_documents(spec):  # ccd run may read another disk: a note, no error
        err_console.print(f"note: {variants}: {where}: no such file here", highlight=False,
                          soft_wrap=True)  # fmt: skip

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.create_mailing(
                conn, name, purpose, spec, require_opt_in=opt_in, cap_days=cap_days,
                hours=(start, end), time_zone=time_zone,
            )  # fmt: skip
        except store.MailingError as exc:
            fail(str(exc), code=EXIT_USAGE)

    mid = run(lambda: with_conn(go))
    console.print(f"mailing {name} created (id {mid}, {purpose}, draft)", highlight=False)


def _cap(mailing: store.Mailing) -> int:
    return mailing.cap_days if mailing.cap_days is not None else state.settings().mailing.cap_days


async def _load(conn: asyncpg.Connection, name: str) -> store.Mailing:
    try:
        return await store.load_mailing(conn, name)
    except store.MailingError as exc:
        fail(str(exc), code=EXIT_USAGE)


@app.command()
def preview(name: Annotated[str, typer.Argument(help="mailing name")]) -> None:
    """Per segment and channel: recipients, those left out and why, SMS parts, and the text a
    sample contact would get. Writes nothing."""

    async def go(conn: asyncpg.Connection) -> planner.Preview:
        mailing = await _load(conn, name)
        return await planner.preview(conn, mailing, _cap(mailing))

    p = run(lambda: with_conn(go))
    table = Table("segment", "channel", "recipients", "fallback text", "sms parts")
    left = Table("segment", "left out", "contacts")
    for seg, sp in p.segments.items():
        for channel, n in sorted(sp.recipients.items()):
            parts = ""
            if channel == "sms":
                parts = ", ".join(f"{k}: {v}" for k, v in sorted(sp.sms_parts.items()))
            table.add_row(seg, channel, str(n), str(sp.fallbacks[channel]), parts)
        for reason, n in sorted(sp.left_out.items()):
            left.add_row(seg, reason, str(n))
    console.print(table)
    console.print(left)
    for seg, sp in p.segments.items():
        for channel, (contact_id, subject, body) in sorted(sp.samples.items()):
            head = f"sample {seg} / {channel} (contact {contact_id})"
            console.print(head + (f"\n  subject: {subject}" if subject else ""), highlight=False)
            console.print("  " + body.replace("\n", "\n  "), highlight=False)
    console.print(f"{p.total()} messages would be sent", highlight=False)


def _move(name: str, target: str) -> None:
    async def go(conn: asyncpg.Connection) -> tuple[str, str]:
        try:
            return await store.set_status(conn, name, target)
        except store.MailingError as exc:
            fail(str(exc), code=EXIT_USAGE)

    old, new = run(lambda: with_conn(go))
    msg = f"mailing {name} is {new} already" if old == new else f"mailing {name}: {old} -> {new}"
    console.print(msg, highlight=False)


@app.command()
def start(name: Annotated[str, typer.Argument(help="mailing name")]) -> None:
    """Start (or resume): the running ccd daemon plans the messages once and sends them."""
    _move(name, "running")


@app.command()
def pause(name: Annotated[str, typer.Argument(help="mailing name")]) -> None:
    """Stop sending within a second; `start` resumes."""
    _move(name, "paused")


@app.command()
def stop(name: Annotated[str, typer.Argument(help="mailing name")]) -> None:
    """Stop for good; messages not sent stay planned and are never sent."""
    _move(name, "stopped")


async def _status_table(conn: asyncpg.Connection, name: str) -> Table:
    mailing = await _load(conn, name)
    counts = await store.counts(conn, mailing.id)
    table = Table("state", "messages", title=f"mailing {name}: {mailing.status}")
    for st in ("planned", "sending", "sent", "delivered", "failed", "expired", "unknown"):
        table.add_row(st, str(counts.get(st, 0)))
    for reason, n in (await store.left_out(conn, mailing.id)).items():
        table.add_row(f"left out: {reason}", str(n))
    return table


@app.command()
def status(
    name: Annotated[str, typer.Argument(help="mailing name")],
    watch: Annotated[
        bool, typer.Option("--watch", help="refresh every second until it ends (Ctrl-C)")
    ] = False,
) -> None:
    """Messages by state and those left out by reason; `--watch` follows it live."""
    if not watch or not console.is_terminal:
        console.print(run(lambda: with_conn(lambda conn: _status_table(conn, name))))
        return

    async def follow(conn: asyncpg.Connection) -> None:
        with Live(await _status_table(conn, name), console=console) as live:
            while True:
                await asyncio.sleep(1.0)
                live.update(await _status_table(conn, name))
                st = await conn.fetchval("SELECT status FROM mailings WHERE name = $1", name)
                if st in ("completed", "stopped"):
                    return

    run(lambda: with_conn(follow))


@app.command("list")
def list_cmd() -> None:
    """Every mailing with its purpose, status and messages sent."""

    async def go(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                "SELECT m.name, m.purpose, m.status, count(mm.id) FILTER"
                " (WHERE mm.state IN ('sent', 'delivered')) AS sent FROM mailings m"
                " LEFT JOIN mailing_messages mm ON mm.mailing_id = m.id"
                " GROUP BY m.id ORDER BY m.name"
            )
        )

    table = Table("mailing", "purpose", "status", "sent")
    for r in run(lambda: with_conn(go)):
        table.add_row(r["name"], r["purpose"], r["status"], str(r["sent"]))
    console.print(table)
