"""Fixtures for the end-to-end suite: a fresh database, the double's process, `ccd run`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CcdProcess, DoubleProcess

CcdFactory = Callable[..., Awaitable[CcdProcess]]


@pytest.fixture
def double_proc(tmp_path: Path) -> Iterator[DoubleProcess]:
    d = DoubleProcess(tmp_path)
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
async def ccd(tmp_path: Path, db_url: str, double_proc: DoubleProcess) -> AsyncIterator[CcdFactory]:
    """make(*run_args, config=TOML) starts `ccd run` with the test's database and the double as
    node; `config` adds settings tables (e.g. [mailing])."""
    started: list[CcdProcess] = []

    async def make(
        *run_args: str, start: bool = True, http: dict[str, Any] | None = None, config: str = ""
    ) -> CcdProcess:
        proc = CcdProcess(
            tmp_path, db_url, double_proc, run_args=run_args, http=http, extra_config=config
        )
        if start:
            await proc.start()
        started.append(proc)
        return proc

    try:
        yield make
    finally:
        for proc in started:
            proc.stop()
