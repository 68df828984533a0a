"""A command that falls back to the embedded PostgreSQL says so, once, on stderr."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccd.cli import app
from ccd.cli.common import state
from ccd.store import db


def _invoke(env: dict[str, str | None], *args: str) -> tuple[int, str, str]:
    state.config_file, state._settings, state._db_url = None, None, None
    r = CliRunner(env={"CCD_LOG_LEVEL": "warning", "CCD_CONFIG": None, **env}).invoke(
        app, list(args)
    )
    return r.exit_code, r.stdout, r.stderr


async def test_embedded_fallback_names_its_database(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The embedded server's start (initdb, a postmaster) is replaced by the test's own real
    # database: what is under test is the notice, and the command still runs against it.
    started: list[Path] = []
    monkeypatch.setattr(db, "embedded_url", lambda data_dir: started.append(data_dir) or db_url)
    env = {"CCD_DATABASE_URL": None, "CCD_DATA_DIR": str(tmp_path)}
    code, out, err = await asyncio.to_thread(_invoke, env, "campaign", "list")
    assert code == 0, err
    assert started == [tmp_path]
    notes = [line for line in err.splitlines() if "embedded PostgreSQL" in line]
    assert notes == [f"note: database_url is not set: using the embedded PostgreSQL in"
                     f" {tmp_path / 'pgdata'} ({db_url})"]  # fmt: skip


async def test_configured_database_gets_no_notice(db_url: str) -> None:
    code, _, err = await asyncio.to_thread(
        _invoke, {"CCD_DATABASE_URL": db_url}, "campaign", "list"
    )
    assert code == 0, err
    assert "embedded" not in err
