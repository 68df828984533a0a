"""`ccd report` and `ccd export` run as real processes against the seeded database."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest


async def ccd(db_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "CCD_DATABASE_URL": db_url, "CCD_LOG_FORMAT": "json"}
    env.pop("CCD_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccd", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


RANGE = ("--from", "2026-03-02", "--to", "2026-03-03", "--tz", "UTC")


async def test_campaign_report_csv_to_stdout(seeded_url: str) -> None:
    code, out, err = await ccd(seeded_url, "report", "campaign", "spring", *RANGE, "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["day"] for r in rows] == ["2026-03-02", "2026-03-03"]
    assert (rows[0]["attempts"], rows[0]["contacts"], rows[0]["abandon_rate"]) == (
        "7", "3", "0.3333",
    )  # fmt: skip
    assert rows[1]["abandon_rate_30d"] == "0.5714"


async def test_campaign_report_xlsx_is_typed(seeded_url: str, tmp_path: Path) -> None:
    out = tmp_path / "spring.xlsx"
    code, stdout, err = await ccd(
        seeded_url, "report", "campaign", "spring", *RANGE, "-f", "xlsx", "--out", str(out)
    )
    assert code == 0, err
    assert "2 rows written" in stdout
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
    ws = openpyxl.load_workbook(out).active
    header = [c.value for c in ws[1]]
    assert header[:4] == ["campaign_id", "campaign", "day", "attempts"]
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    col = {name: i for i, name in enumerate(header)}
    day = ws[2][col["day"]]
    assert isinstance(day.value, datetime) and day.value.date().isoformat() == "2026-03-02"
    assert day.number_format == "yyyy-mm-dd"
    assert ws[2][col["attempts"]].value == 7 and ws[2][col["attempts"]].data_type == "n"
    rate = ws[2][col["abandon_rate"]]
    assert rate.value == pytest.approx(0.3333) and rate.number_format == "0.00%"
    assert ws[2][col["campaign"]].value == "spring"
    assert ws.column_dimensions["C"].width >= 10  # "day" column sized for a date


async def test_agent_report_csv_and_table(seeded_url: str) -> None:
    code, out, err = await ccd(seeded_url, "report", "agents", "--campaign", "spring", *RANGE,
                               "-f", "csv")  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    # carol is not an agent of "spring"
    assert [(r["login"], r["day"]) for r in rows] == [
        ("alice", "2026-03-02"), ("bob", "2026-03-02"), ("bob", "2026-03-03"),
    ]  # fmt: skip
    assert rows[0]["pause_by_reason"] == '{"break": 900, "lunch": 3600}'
    assert rows[0]["talk_s"] == "120"

    code, out, err = await ccd(seeded_url, "report", "agents", "--agent", "alice", *RANGE)
    assert code == 0, err
    assert "alice" in out and "32400" in out and "0.54%" in out  # occupancy as a percentage


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "campaign", "winter", *RANGE), "no campaign named 'winter'"),
        (("report", "campaign", "spring", "-f", "xlsx"), "--out FILE.xlsx"),
        (("report", "campaign", "spring", "--tz", "Mars/Olympus"), "Mars/Olympus"),
        (("report", "campaign", "spring", "--from", "2026-03-05", "--to", "2026-03-01"),
         "is after --to"),
        (("report", "agents", "--agent", "zed"), "no agent with login 'zed'"),
        (("export", "leads", "winter"), "no campaign named 'winter'"),
    ],
)  # fmt: skip
async def test_bad_input_is_named(seeded_url: str, args: tuple[str, ...], message: str) -> None:
    code, out, err = await ccd(seeded_url, *args)
    assert code == 2, (out, err)
    assert message in " ".join(err.split()), err


async def test_export_attempts_csv_and_leads_xlsx(seeded_url: str, tmp_path: Path) -> None:
    code, out, err = await ccd(seeded_url, "export", "attempts", "spring", "--tz", "UTC")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 13  # every attempt of "spring", oldest first
    assert rows[0]["created_at"].startswith("2026-01-20 15:00:00")
    assert {r["campaign"] for r in rows} == {"spring"}
    first_d1 = next(r for r in rows if r["created_at"].startswith("2026-03-02 10:00"))
    assert (first_d1["agent"], first_d1["trunk"], first_d1["talk_s"]) == ("alice", "city", "120.0")

    code, out, err = await ccd(seeded_url, "export", "attempts", "spring", "--from", "2026-03-03",
                               "--to", "2026-03-03", "--tz", "UTC")  # fmt: skip
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 4

    xlsx = tmp_path / "leads.xlsx"
    code, out, err = await ccd(
        seeded_url, "export", "leads", "spring", "-f", "xlsx", "-o", str(xlsx)
    )
    assert code == 0, err
    assert "8 leads exported" in err
    ws = openpyxl.load_workbook(xlsx).active
    header = [c.value for c in ws[1]]
    col = {name: i for i, name in enumerate(header)}
    data = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(data) == 8
    seventh = next(r for r in data if r[col["phone"]] == "+74950000007")
    assert seventh[col["on_blacklist"]] is True and seventh[col["attempts"]] == 1
    assert isinstance(seventh[col["created_at"]], datetime)


async def test_other_reports_as_csv(seeded_url: str) -> None:
    code, out, err = await ccd(seeded_url, "report", "hourly", "spring", *RANGE, "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["day"], r["hour"], r["outcome"], r["attempts"]) for r in rows][:2] == [
        ("2026-03-02", "10", "ANSWERED", "2"), ("2026-03-02", "11", "BUSY", "1"),
    ]  # fmt: skip

    code, out, err = await ccd(seeded_url, "report", "penetration", "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["campaign"], r["leads"], r["penetration"]) for r in rows] == [
        ("other", "1", "0.0000"), ("spring", "8", "0.7500"),
    ]  # fmt: skip

    code, out, err = await ccd(seeded_url, "report", "trunks", *RANGE, "-f", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["day"], r["trunk"], r["attempts"]) for r in rows] == [
        ("2026-03-02", "city", "3"), ("2026-03-02", "sip", "4"), ("2026-03-03", "city", "4"),
    ]  # fmt: skip

    code, out, err = await ccd(
        seeded_url, "report", "queues", "--queue", "sales", "--sl", "15", *RANGE, "-f", "csv"
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["queue"], r["offered"], r["answered_in_sl"], r["sl_threshold_s"]) for r in rows] == [
        ("sales", "4", "1", "15"),
    ]
