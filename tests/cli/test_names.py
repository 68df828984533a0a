"""Names with rich markup in them print as typed; names with control characters are refused."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from rich.console import Console
from typer.testing import Result

from ccd.cli.campaign import progress_bar

Invoke = Callable[..., Awaitable[Result]]

EVIL = "evil[/x]"
TRUNCATED = "q/a:b?[x]"  # rich took [x] for a tag and printed "q/a:b?"
EMOJI = "team:smile:"  # rich printed "team😄"


async def test_markup_in_a_campaign_name_prints_as_typed(ccd: Invoke) -> None:
    for name in (EVIL, TRUNCATED, EMOJI):
        r = await ccd("campaign", "create", name)
        assert r.exit_code == 0, r.output
        assert f"campaign {name} created" in r.stdout
    r = await ccd("campaign", "list")
    assert r.exit_code == 0, r.output
    assert EVIL in r.stdout and TRUNCATED in r.stdout and EMOJI in r.stdout
    r = await ccd("campaign", "status", TRUNCATED)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"{TRUNCATED} (id ")
    r = await ccd("campaign", "start", TRUNCATED)
    assert r.exit_code == 0 and f"campaign {TRUNCATED}: draft -> running" in r.stdout


async def test_fail_prints_markup_as_typed(ccd: Invoke) -> None:
    r = await ccd("campaign", "start", "[bold]nope[/x]")
    assert r.exit_code == 2, r.output
    assert "error: no campaign named '[bold]nope[/x]'" in r.stderr


async def test_markup_in_agent_names_and_csv_headers(ccd: Invoke, tmp_path: Path) -> None:
    r = await ccd("agent", "add", "a[/b]", "--endpoint", "PJSIP/[x]101", "--name", "[red]Al")
    assert r.exit_code == 0, r.output
    assert "agent a[/b] added" in r.stdout
    r = await ccd("agent", "list")
    assert r.exit_code == 0, r.output
    assert "a[/b]" in r.stdout and "[red]Al" in r.stdout and "PJSIP/[x]101" in r.stdout
    assert (await ccd("campaign", "create", "c")).exit_code == 0
    src = tmp_path / "l[b].csv"
    src.write_text("[/who],[bold]\n1,2\n")
    r = await ccd("campaign", "load", "c", str(src))
    assert r.exit_code == 2, r.output
    assert "columns found: [/who], [bold]" in r.stderr
    src.write_text("\x1b[2Jwho\n1\n")  # an escape sequence that would clear the screen
    r = await ccd("campaign", "load", "c", str(src))
    assert r.exit_code == 2, r.output
    assert "columns found: \ufffd[2Jwho" in r.stderr and "\x1b" not in r.stderr


def test_progress_bar_shows_a_file_name_as_typed() -> None:
    bar = progress_bar("csv")
    bar.add_task("loading l[/x].csv", total=10)
    out = io.StringIO()
    Console(file=out, width=120).print(bar.get_renderable())
    assert "loading l[/x].csv" in out.getvalue()


@pytest.mark.parametrize("bad", ["two\nlines", "tab\there", "bell\x07", "nel\x85", "ls\u2028"])
async def test_control_characters_in_names_are_refused(
    ccd: Invoke, pool: asyncpg.Pool, bad: str
) -> None:
    r = await ccd("campaign", "create", bad)
    assert r.exit_code == 2, r.output
    assert "NAME: control character U+" in r.stderr
    assert "a name is one line of printable text" in " ".join(r.stderr.split())
    r = await ccd("agent", "add", bad, "--endpoint", "PJSIP/101")
    assert r.exit_code == 2 and "login: control character U+" in r.stderr, r.output
    r = await ccd("agent", "add", "ok", "--endpoint", "PJSIP/101", "--name", bad)
    assert r.exit_code == 2 and "name: control character U+" in r.stderr, r.output
    r = await ccd("user", "add", bad, "--role", "admin", "--password", "pw-long-enough-1")
    assert r.exit_code == 2 and "login: control character U+" in r.stderr, r.output
    assert (
        await pool.fetchval(
            "SELECT (SELECT count(*) FROM campaigns) + (SELECT count(*) FROM agents)"
            " + (SELECT count(*) FROM users)"
        )
        == 0
    )
