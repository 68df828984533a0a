"""Run `ccd` commands in-process against a fresh database, from async tests.

Each command runs in a worker thread (the CLI calls asyncio.run itself), so a test can
hold its own connections, e.g. one that LISTENs, while commands run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from typer.testing import CliRunner, Result

from ccd.cli import app
from ccd.cli.common import state

Invoke = Callable[..., Awaitable[Result]]


def _invoker(url: str) -> Invoke:
    runner = CliRunner(env={"CCD_DATABASE_URL": url, "CCD_LOG_LEVEL": "warning",
                            "COLUMNS": "200", "CCD_CONFIG": None})  # fmt: skip

    async def invoke(*args: str, input: str | None = None) -> Result:
        # The CLI caches settings per process; every command here is a fresh invocation.
        state.config_file, state._settings, state._db_url = None, None, None
        return await asyncio.to_thread(runner.invoke, app, list(args), input=input)

    return invoke


@pytest.fixture
def ccd(db_url: str) -> Invoke:
    return _invoker(db_url)


@pytest.fixture
def ccd_no_schema(empty_db_url: str) -> Invoke:
    return _invoker(empty_db_url)
