"""`ccd segment`: named rules over contact attributes (age >= 60, language = uk, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, fail, run, with_conn
from ccd.messaging.segments import compile_rules
from ccd.store import segments as store

app = typer.Typer(help="Segments of contacts: add, load, list, show.", no_args_is_help=True)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="segment name")],
    rules: Annotated[list[str], typer.Argument(help="rules, all must hold: 'age >= 60'")],
) -> None:
    """Create a segment (or replace its rules). Attributes: age, age_group, gender, language,
    social_status, first_name, time_zone, fields.NAME; operators = != < <= > >= and
    `in [a, b]`, `not in [a, b]`."""

    async def go(conn: asyncpg.Connection) -> int:
        try:
            await store.save_segment(conn, name, rules)
        except store.SegmentError as exc:
            fail(str(exc), code=EXIT_USAGE)
        return await store.count(conn, rules)

    n = run(lambda: with_conn(go))
    console.print(f"segment {name}: {n} contacts now", highlight=False)


@app.command()
def load(file: Annotated[Path, typer.Argument(help="YAML: name: [rule, ...]")]) -> None:
    """Create or replace every segment of a YAML file, all or nothing."""

    async def go(conn: asyncpg.Connection) -> int:
        try:
            segments = store.read_segments_file(file)
        except store.SegmentError as exc:
            fail(str(exc), code=EXIT_USAGE)
        async with conn.transaction():
            for name, rules in segments.items():
                await store.save_segment(conn, name, rules)
        return len(segments)

    console.print(f"{run(lambda: with_conn(go))} segments loaded from {file}", highlight=False)


@app.command("list")
def list_cmd() -> None:
    """Every segment with its rules and how many contacts it holds now."""
    rows = run(lambda: with_conn(store.list_segments))
    table = Table("segment", "rules", "contacts")
    for name, rules, n in rows:
        table.add_row(name, " AND ".join(rules), str(n))
    console.print(table)


@app.command()
def show(name: Annotated[str, typer.Argument(help="segment name")]) -> None:
    """A segment's rules, the SQL they compile to, and its contacts count."""

    async def go(conn: asyncpg.Connection) -> tuple[list[str], int]:
        try:
            rules = await store.get_rules(conn, name)
        except store.SegmentError as exc:
            fail(str(exc), code=EXIT_USAGE)
        return rules, await store.count(conn, rules)

    rules, n = run(lambda: with_conn(go))
    params: list[object] = []
    console.print(f"segment {name}: {n} contacts", highlight=False)
    for rule in rules:
        console.print(f"  {rule}", highlight=False)
    console.print(f"SQL: {compile_rules(rules, params)}  params: {params}", highlight=False)
