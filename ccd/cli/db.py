"""`ccd db`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from ccd.cli.common import console, run, state
from ccd.store import migrate

app = typer.Typer(help="Database schema: upgrade, downgrade, current revision.", no_args_is_help=True)


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
