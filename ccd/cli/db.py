"""`ccd db`: schema migrations and data retention."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
import typer

from ccd.cli.common import EXIT_USAGE, console, err_console, fail, run, state, with_conn
from ccd.dialer.recording_prune import prune_recordings
from ccd.store import migrate, recordings, retention
from ccd.telephony.ari_rest import node_rest

app = typer.Typer(
    help="Database schema: upgrade, downgrade, current revision; prune old history.",
    no_args_is_help=True,
)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
) -> None:
    """Migrate the schema up to REVISION (default: the newest)."""
    url = state.db_url()
    migrate.upgrade(url, revision)
    console.print(f"schema at {run(lambda: migrate.current_revision(url))}")


@app.command()
def downgrade(revision: Annotated[str, typer.Argument(help="target revision, or 'base'")]) -> None:
    """Migrate the schema down to REVISION."""
    url = state.db_url()
    migrate.downgrade(url, revision)
    console.print(f"schema at {run(lambda: migrate.current_revision(url)) or 'base'}")


@app.command()
def current() -> None:
    """Print the schema revision of the database and whether it is the newest."""
    url = state.db_url()
    rev = run(lambda: migrate.current_revision(url))
    head = migrate.head_revision(url)
    console.print(f"{rev or 'base'} ({'head' if rev == head else f'head is {head}'})")


@app.command()
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="age of history to delete: 180d, 26w")
    ] = "180d",
    yes: Annotated[bool, typer.Option("--yes", help="delete; without it only count")] = False,
    batch: Annotated[int, typer.Option(min=1, help="rows per delete transaction")] = 10_000,
) -> None:
    """Delete ended attempts, inbound calls, IVR steps and agent state changes older than
    --older-than, and call recordings older than their campaign's retention (their files on
    the Asterisk nodes, through ARI). Without --yes it only prints what would go."""
    try:
        cutoff = datetime.now(UTC) - retention.parse_age(older_than)
    except ValueError as exc:
        fail(f"--older-than {exc}", code=EXIT_USAGE)

    async def go(conn: asyncpg.Connection) -> None:
        now = datetime.now(UTC)
        expired = len(await recordings.expired(conn, now))
        console.print(f"recordings past their retention: {expired:,}")
        counts = await retention.count_prunable(conn, cutoff)
        console.print(f"older than {cutoff:%Y-%m-%d %H:%M} UTC:")
        for table, n in counts.items():
            console.print(f"  {table:<16} {n:>12,}")
        if not yes:
            console.print("dry run: nothing deleted (add --yes to delete)")
            return
        if expired:
            await _prune_recordings(conn, now)
        deleted = await retention.prune(conn, cutoff, batch=batch)
        console.print(f"deleted {sum(deleted.values()):,} rows")

    run(lambda: with_conn(go))


async def _prune_recordings(conn: asyncpg.Connection, now: datetime) -> None:
    async with AsyncExitStack() as stack:
        nodes = {
            node.name: await stack.enter_async_context(node_rest(node))
            for node in state.settings().nodes
        }
        report = await prune_recordings(conn, nodes, now)
    console.print(f"recordings deleted from Asterisk: {report.deleted:,}")
    for name in report.missing:
        console.print(f"  {name}: the node no longer had it (marked missing)", highlight=False)
    for name, why in report.failed.items():
        err_console.print(f"  {name}: not deleted, kept for the next prune: {why}",
                          highlight=False, markup=False)  # fmt: skip
