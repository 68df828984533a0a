"""`ccd agent add|list|token|disable|enable` against a real database."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest
from typer.testing import CliRunner

from ccd.cli import app
from ccd.cli.common import state
from ccd.store.agents import AgentRow, agent_by_token


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CCD_DATABASE_URL", db_url)
    monkeypatch.setattr(state, "_settings", None)
    monkeypatch.setattr(state, "_db_url", None)
    # Logging set up inside CliRunner would keep writing to its closed capture stream.
    monkeypatch.setattr("ccd.cli.common.configure_logging", lambda *a, **k: None)
    return CliRunner()


def _agent_by_token(db_url: str, token: str) -> AgentRow | None:
    async def go() -> AgentRow | None:
        conn = await asyncpg.connect(db_url)
        try:
            return await agent_by_token(conn, token)
        finally:
            await conn.close()

    return asyncio.run(go())


def test_add_prints_a_token_once_and_list_shows_the_agent(cli: CliRunner, db_url: str) -> None:
    result = cli.invoke(app, ["agent", "add", "anna", "--endpoint", "PJSIP/agent101"])
    assert result.exit_code == 0, result.output
    token = result.output.split("token (shown once):")[1].split()[0]
    agent = _agent_by_token(db_url, token)
    assert agent is not None and agent.endpoint == "PJSIP/agent101"
    listed = cli.invoke(app, ["agent", "list"])
    assert "anna" in listed.output and "LOGGED_OUT" in listed.output
    again = cli.invoke(app, ["agent", "add", "bob", "--endpoint", "PJSIP/agent101"])
    assert again.exit_code == 2 and "endpoint already exists" in again.output
    bad = cli.invoke(app, ["agent", "add", "cy", "--endpoint", "agent102"])
    assert bad.exit_code == 2 and "PJSIP/agent101" in bad.output
    renewed = cli.invoke(app, ["agent", "token", "anna"])
    assert renewed.exit_code == 0
    assert _agent_by_token(db_url, token) is None


def test_disabled_agent_and_token_expiry_are_listed(cli: CliRunner, db_url: str) -> None:
    assert cli.invoke(app, ["agent", "add", "anna", "--endpoint", "PJSIP/agent101"]).exit_code == 0
    listed = cli.invoke(app, ["agent", "list"], terminal_width=200)
    assert re.search(r"token until.*\n.*anna.* \d{4}-\d\d-\d\d", listed.output, re.S)
    assert cli.invoke(app, ["agent", "disable", "anna"]).exit_code == 0
    listed = cli.invoke(app, ["agent", "list"], terminal_width=200)
    assert "disabled" in listed.output
    assert cli.invoke(app, ["agent", "enable", "anna"]).exit_code == 0
    listed = cli.invoke(app, ["agent", "list"], terminal_width=200)
    assert "disabled" not in listed.output
