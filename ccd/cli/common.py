"""What every command group shares: settings, the database URL, exit codes, async entry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.text import Text

from ccd.config import ConfigError, Settings, load_settings
from ccd.log import configure_logging
from ccd.store.db import connect, database_url, embedded_pgdata

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad usage or bad input

# Output is full of names people typed ("q[/x]", "a:smile:"): rich must never read a string
# as markup or emoji codes. Styled output is built with rich.text.Text instead.
console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)
# Control characters other than newline and tab (an escape sequence in a file's header, say)
# must not reach the terminal through an error message.
_UNPRINTABLE = {c: "\ufffd" for c in [*range(0x20), *range(0x7F, 0xA0)] if c not in (9, 10)}


@dataclass
class CliState:
    config_file: Path | None = None
    _settings: Settings | None = None
    _db_url: str | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_file)
            except ConfigError as exc:
                fail(str(exc), code=EXIT_USAGE)
            configure_logging(self._settings.log_level, self._settings.log_format)
        return self._settings

    def db_url(self) -> str:
        if self._db_url is None:
            settings = self.settings()
            self._db_url = database_url(settings)
            if settings.database_url is None:
                # A shell without the setting would otherwise write to another database
                # unnoticed (a first campaign created "nowhere").
                err_console.print(
                    f"note: database_url is not set: using the embedded PostgreSQL in"
                    f" {embedded_pgdata(settings.data_dir)} ({self._db_url})",
                    highlight=False, soft_wrap=True,
                )  # fmt: skip
        return self._db_url


state = CliState()


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    text = message.translate(_UNPRINTABLE)
    err_console.print(Text.assemble(("error:", "red"), " ", text), highlight=False)
    raise typer.Exit(code)


def run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one command's coroutine; the CLI has no long-lived loop of its own."""
    return asyncio.run(fn())


async def with_conn(fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `fn` on one connection to the configured database, closed afterwards.

    A database that cannot be reached, or has no schema yet, ends the command with a clear
    error instead of a traceback.
    """
    try:
        conn = await connect(state.db_url())
    except (OSError, asyncpg.PostgresError) as exc:
        fail(f"cannot connect to the database: {exc}")
    try:
        return await fn(conn)
    except asyncpg.UndefinedTableError as exc:
        fail(f"the database has no ccd schema yet ({exc}): run `ccd db upgrade`")
    finally:
        await conn.close()


def _region(value: str | None) -> str | None:
    from phonenumbers import SUPPORTED_REGIONS

    if value is None:
        return None
    region = value.upper()
    if region not in SUPPORTED_REGIONS:
        raise typer.BadParameter(f"unknown region {region!r}; use a code such as RU, GB, US")
    return region


# --region and --rejects mean the same in every import: one definition, one check.
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region", callback=_region, help="country for national numbers (8 916 ...): RU, GB, US"
    ),
]
RejectsOpt = Annotated[
    Path | None,
    typer.Option("--rejects", help="CSV of rejected rows (default FILE-rejects.csv beside it)"),
]
