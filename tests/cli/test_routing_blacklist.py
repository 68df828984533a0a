"""`ccd trunk`, `ccd route` and `ccd blacklist` end to end against the real database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from openpyxl import Workbook
from typer.testing import Result

Invoke = Callable[..., Awaitable[Result]]


def rows(output: str) -> list[str]:
    return [" ".join(line.replace("│", " ").split()) for line in output.splitlines()]


async def trunk(ccd: Invoke, name: str, kind: str = "sip") -> None:
    r = await ccd("trunk", "add", name, "--kind", kind, "--template", f"PJSIP/{{number}}@{name}",
                  "--channels", "10")  # fmt: skip
    assert r.exit_code == 0, r.output


async def test_trunks(ccd: Invoke, pool: asyncpg.Pool) -> None:
    await trunk(ccd, "city1", "city")
    r = await ccd("trunk", "add", "free", "--kind", "tollfree_8800", "--template",
                  "PJSIP/{number}@mts-8800", "--channels", "60", "--node", "ast2")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = await ccd("trunk", "list")
    assert "city1 city PJSIP/{number}@city1 10 any yes" in " ".join(rows(r.stdout))
    assert "free tollfree_8800 PJSIP/{number}@mts-8800 60 ast2 yes" in " ".join(rows(r.stdout))

    bad = [
        (["x", "--kind", "sip", "--template", "PJSIP/trunk", "--channels", "5"],
         "--template: must contain {number}"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}@{host}", "--channels", "5"],
         "--template: only {number} may appear in braces"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}", "--channels", "0"],
         "--channels:"),
        (["x", "--kind", "fiber", "--template", "PJSIP/{number}", "--channels", "1"],
         "'--kind'"),
        (["city1", "--kind", "sip", "--template", "PJSIP/{number}", "--channels", "1"],
         "name: a trunk named 'city1' exists already"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}&PJSIP/{number}@b", "--channels", "1"],
         "--template: must contain {number} once"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}@a&PJSIP/spy", "--channels", "1"],
         "--template: '&' dials several channels for one call; allow it explicitly"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}@a b", "--channels", "1"],
         "--template: must be one Asterisk dial string"),
        (["x", "--kind", "sip", "--template", "PJSIP/{number}@a\nX", "--channels", "1"],
         "--template: must be one Asterisk dial string"),
        (["x", "--kind", "sip", "--template", "{number}", "--channels", "1"],
         "--template: must be one Asterisk dial string"),
    ]  # fmt: skip
    for args, needle in bad:
        r = await ccd("trunk", "add", *args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in " ".join(r.output.replace("│", " ").split()), (needle, r.output)
    assert await pool.fetchval("SELECT count(*) FROM trunks") == 2
    fork = ["--kind", "sip", "--template", "PJSIP/{number}@a&PJSIP/rec", "--channels", "1"]
    assert (await ccd("trunk", "add", "forked", *fork, "--allow-fork")).exit_code == 0


async def test_routes(ccd: Invoke, pool: asyncpg.Pool) -> None:
    for name in ("a", "b", "c"):
        await trunk(ccd, name)
    assert (await ccd("route", "add", "+7495", "b", "a")).exit_code == 0
    assert (await ccd("route", "add", "7", "c")).exit_code == 0  # '+' is added
    assert (await ccd("route", "add", "+", "a")).exit_code == 0
    r = await ccd("route", "list")
    assert [line for line in rows(r.stdout) if line.startswith("+")] == [
        "+7495 b, a", "+7 c", "+ a"]  # fmt: skip
    got = await pool.fetch(
        "SELECT t.name, r.position FROM routes r JOIN trunks t ON t.id = r.trunk_id"
        " WHERE prefix = '+7495' ORDER BY position"
    )
    assert [(g["name"], g["position"]) for g in got] == [("b", 0), ("a", 1)]

    r = await ccd("route", "add", "+7495", "c")
    assert r.exit_code == 2 and "use --replace" in r.stderr
    assert (await ccd("route", "add", "+7495", "c", "a", "--replace")).exit_code == 0
    assert "+7495 c, a" in rows((await ccd("route", "list")).stdout)
    for args, needle in (
        (["+7x", "a"], "prefix: '+7x' is not '+' followed by digits"),
        (["+44", "zzz"], "trunks: no trunk named zzz"),
        (["+44", "a", "a"], "trunks: a trunk is named twice"),
    ):
        r = await ccd("route", "add", *args)
        assert r.exit_code == 2 and needle in r.stderr, r.output
    assert (await ccd("route", "remove", "+7")).exit_code == 0
    assert (await ccd("route", "remove", "+7")).exit_code == 2
    assert await pool.fetchval("SELECT count(DISTINCT prefix) FROM routes") == 2


async def test_blacklist_add_list_remove(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "c")).exit_code == 0
    (tmp_path / "l.csv").write_text("phone\n+74951234567\n+74951234568\n")
    assert (await ccd("campaign", "load", "c", str(tmp_path / "l.csv"))).exit_code == 0

    r = await ccd("blacklist", "add", "8 (495) 123-45-67", "+442071234567", "--region", "RU",
                  "--reason", "dnc", "--note", "asked by phone")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "2 added (0 listed already); 1 leads marked blacklisted" in r.stdout
    status = await pool.fetchval("SELECT status FROM leads WHERE phone = '+74951234567'")
    assert status == "blacklisted"
    r = await ccd("blacklist", "add", "+74951234567")
    assert "0 added (1 listed already)" in r.stdout

    r = await ccd("blacklist", "list", "--reason", "dnc")
    text = rows(r.stdout)
    assert any(line.startswith("+74951234567 dnc manual") and "asked by phone" in line
               for line in text)  # fmt: skip
    assert "2 of 2 shown" in text

    r = await ccd("blacklist", "add", "12345")
    assert r.exit_code == 2 and "PHONE '12345'" in r.stderr
    r = await ccd("blacklist", "add", "--reason", "whim", "+74951234567")
    assert r.exit_code == 2

    r = await ccd("blacklist", "remove", "+74951234567")
    assert r.exit_code == 0 and "1 removed; 1 leads dialable again" in r.stdout
    assert await pool.fetchval("SELECT status FROM leads WHERE phone = '+74951234567'") == "new"
    r = await ccd("blacklist", "remove", "+74951234567")
    assert r.exit_code == 2 and "is on the blacklist" in r.stderr


async def test_blacklist_import(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "c")).exit_code == 0
    (tmp_path / "l.csv").write_text("phone\n+74951234567\n+74951234568\n")
    assert (await ccd("campaign", "load", "c", str(tmp_path / "l.csv"))).exit_code == 0
    await pool.execute("INSERT INTO blacklist (phone, reason) VALUES ('+74951234568', 'fax')")

    wb = Workbook()
    ws = wb.active
    ws.append(["Номер", "Комментарий"])
    for value in (74951234567, "+7 495 123-45-68", "8 495 123 45 69", "8 495 123 45 69", "x"):
        ws.append([value, "жалоба"])
    wb.save(tmp_path / "dnc.xlsx")
    r = await ccd("blacklist", "import", str(tmp_path / "dnc.xlsx"), "--region", "RU")
    assert r.exit_code == 0, r.output
    assert "5 rows: 2 added, 2 listed already, 1 rejected" in r.stdout
    # Both loaded leads are in the file: the one listed before by hand gets marked too.
    assert "2 leads marked blacklisted" in r.stdout
    assert await pool.fetchval("SELECT count(*) FROM leads WHERE status = 'blacklisted'") == 2
    got = await pool.fetch("SELECT phone, reason, source FROM blacklist ORDER BY phone")
    assert [tuple(g) for g in got] == [
        ("+74951234567", "dnc", "import:dnc.xlsx"),
        ("+74951234568", "fax", "manual"),
        ("+74951234569", "dnc", "import:dnc.xlsx"),
    ]
    assert (tmp_path / "dnc-rejects.csv").exists()

    (tmp_path / "none.csv").write_text("name\nx\n")
    r = await ccd("blacklist", "import", str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "no phone column" in r.stderr


@pytest.mark.parametrize(
    "command",
    [("blacklist", "add", "8 495 123-45-67"), ("blacklist", "remove", "8 495 123-45-67"),
     ("blacklist", "import", "dnc.csv"), ("contacts", "import", "people.csv")],
)  # fmt: skip
async def test_every_import_refuses_an_unknown_region_before_reading(
    ccd: Invoke, command: tuple[str, ...]
) -> None:
    r = await ccd(*command, "--region", "xx")
    assert r.exit_code == 2 and "unknown region 'XX'" in r.output
