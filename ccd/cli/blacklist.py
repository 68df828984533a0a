"""`ccd blacklist`: numbers never dialed, in any campaign."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from ccd.cli.campaign import progress_bar
from ccd.cli.common import EXIT_USAGE, RegionOpt, RejectsOpt, console, fail, run, with_conn
from ccd.domain.dispositions import BlacklistReason
from ccd.domain.phones import InvalidNumber, normalize
from ccd.store import blacklist as store
from ccd.store.leads_import import LeadImportError, parse_column_map

app = typer.Typer(help="The global blacklist: add, import, list, remove.", no_args_is_help=True)


def _normalized(numbers: list[str], region: str | None) -> list[str]:
    out = []
    for raw in numbers:
        try:
            out.append(normalize(raw, region).e164)
        except InvalidNumber as exc:
            fail(f"PHONE {raw!r}: {exc}", code=EXIT_USAGE)
    return out


@app.command()
def add(
    phones: Annotated[list[str], typer.Argument(help="numbers (+7..., or national with --region)")],
    reason: Annotated[BlacklistReason, typer.Option("--reason")] = BlacklistReason.MANUAL,
    note: Annotated[str | None, typer.Option("--note", help="why, for the record")] = None,
    region: RegionOpt = None,
) -> None:
    """Blacklist numbers; their leads in every campaign stop being dialed."""
    numbers = _normalized(phones, region)

    async def go(conn: asyncpg.Connection) -> tuple[int, int]:
        return await store.add_numbers(conn, numbers, reason, note=note)

    added, marked = run(lambda: with_conn(go))
    console.print(f"{added} added ({len(set(numbers)) - added} listed already); "
                  f"{marked} leads marked blacklisted")  # fmt: skip


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with a phone column")],
    reason: Annotated[BlacklistReason, typer.Option("--reason")] = BlacklistReason.DNC,
    column_map: Annotated[
        str | None, typer.Option("--map", help="the phone column: phone=Телефон")
    ] = None,
    region: RegionOpt = None,
    rejects: RejectsOpt = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="the CSV's encoding, e.g. latin-1 (default: guessed)"),
    ] = None,
) -> None:
    """Blacklist every number of a file (e.g. a do-not-call list), all or nothing."""
    try:
        mapping = parse_column_map(column_map) if column_map else None
    except ValueError as exc:
        fail(str(exc), code=EXIT_USAGE)
    kind = "xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    bar = progress_bar(kind) if console.is_terminal else None

    async def go(conn: asyncpg.Connection) -> store.BlacklistImport:
        task = bar.add_task(f"importing {file.name}", total=None) if bar else None

        def advance(done: int, total: int) -> None:
            if bar is not None and task is not None:
                bar.update(task, completed=done, total=total or None)

        try:
            return await store.import_file(
                conn, file, reason, column_map=mapping,
                region=region, rejects_path=rejects, progress=advance,
                encoding=encoding,
            )  # fmt: skip
        except LeadImportError as exc:
            fail(str(exc), code=EXIT_USAGE)

    with bar or nullcontext():
        r = run(lambda: with_conn(go))
    where = f" -> {r.rejects_path}" if r.rejects_path else ""
    console.print(f"{r.rows} rows: {r.added} added, {r.already} listed already, "
                  f"{r.rejected} rejected{where}; {r.leads_marked} leads marked blacklisted",
                  highlight=False)  # fmt: skip


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N entries")] = 100,
    reason: Annotated[BlacklistReason | None, typer.Option("--reason")] = None,
) -> None:
    """List blacklisted numbers, newest first."""

    async def go(conn: asyncpg.Connection) -> tuple[int, list[asyncpg.Record]]:
        return await store.list_numbers(conn, limit=limit, reason=reason)

    total, rows = run(lambda: with_conn(go))
    table = Table("phone", "reason", "source", "added", "note")
    for r in rows:
        table.add_row(r["phone"], r["reason"], r["source"],
                      r["created_at"].strftime("%Y-%m-%d %H:%M"), r["note"] or "")  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} of {total} shown")


@app.command()
def remove(
    phones: Annotated[list[str], typer.Argument(help="numbers to take off the list")],
    region: RegionOpt = None,
) -> None:
    """Take numbers off the blacklist; their blacklisted leads become dialable again."""
    numbers = _normalized(phones, region)

    async def go(conn: asyncpg.Connection) -> tuple[int, int]:
        return await store.remove_numbers(conn, numbers)

    removed, restored = run(lambda: with_conn(go))
    if not removed:
        fail(f"none of {', '.join(numbers)} is on the blacklist", code=EXIT_USAGE)
    console.print(f"{removed} removed; {restored} leads dialable again")
