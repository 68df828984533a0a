"""A fax mailing as operators run it: a trunk and a route, contacts with fax numbers and
consent, a mailing whose document is a PDF (ccd converts it with ghostscript), sent by
`ccd run` through the Asterisk double in its own process, which runs SendFAX() for [ccd-fax]:
one fax goes through, one line is busy and the fax goes at the retry, one fax machine fails
mid-way; `ccd report mailing` and the messages say so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess
from tests.fax.documents import write_pdf

pytestmark = pytest.mark.e2e

DELIVERED, BUSY, FAILING = "+74951000001", "+74951000002", "+74951000003"
CONTACTS = f"""phone,fax,first_name,consent_fax
+79160000001,{DELIVERED},Olena,yes
+79160000002,{BUSY},Ivan,yes
+79160000003,{FAILING},Petro,yes
"""
ERROR = "Disconnected after permitted retries"


async def _message(daemon: CcdProcess, fax: str) -> dict[str, object]:
    (row,) = await daemon.sql(
        "SELECT state, reason, pages, attempts, provider_id FROM mailing_messages"
        " WHERE address = $1",
        fax,
    )
    return dict(row)


async def test_a_fax_mailing_delivers_retries_busy_lines_and_reports_failures(
    ccd: CcdFactory, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    daemon = await ccd(config=(
        f'[mailing.fax]\nspool_dir = "{spool}"\ncaller_id = "+74950000000"\n'
        'station_id = "+7 495 000 00 00"\nretry_busy_s = 4\n'
    ))  # fmt: skip
    double = daemon.double
    await daemon.cli("trunk", "add", "city1", "--kind", "city", "--template",
                     "PJSIP/{number}@city-trunk", "--channels", "10")  # fmt: skip
    await daemon.cli("route", "add", "+7495", "city1")
    await double.program(DELIVERED, "fax", tone="CED", after=2)
    await double.program(BUSY, "busy", after=1)
    await double.program(FAILING, "fax", tone="CED", error=ERROR, pages=1)

    document = write_pdf(tmp_path / "notice.pdf", 2)
    (tmp_path / "c.csv").write_text(CONTACTS)
    (tmp_path / "v.yaml").write_text(
        "variants:\n  - channels: [fax]\n    templates:\n"
        f"      fax: {{text: {{default: '{document}'}}, fallback: '{document}'}}\n"
    )
    await daemon.cli("contacts", "import", str(tmp_path / "c.csv"))
    await daemon.cli("mailing", "create", "notice", "--purpose", "marketing", "--variants",
                     str(tmp_path / "v.yaml"), "--hours", "00:00-24:00")  # fmt: skip
    await daemon.cli("mailing", "start", "notice")

    async def busy_once() -> bool:
        m = await _message(daemon, BUSY)
        return m["state"] == "planned" and str(m["reason"]).startswith("busy")

    await eventually(busy_once, within=60, what="the busy fax back in line for its retry")
    await double.program(BUSY, "fax", tone="CED")  # the line is free at the retry

    async def completed() -> bool:
        (row,) = await daemon.sql("SELECT status FROM mailings WHERE name = 'notice'")
        return bool(row["status"] == "completed")

    await eventually(completed, within=90, what="the fax mailing completed")

    delivered, busy, failing = [await _message(daemon, n) for n in (DELIVERED, BUSY, FAILING)]
    assert (delivered["state"], delivered["pages"], delivered["attempts"]) == ("delivered", 2, 1)
    assert (busy["state"], busy["pages"], busy["attempts"]) == ("delivered", 2, 2)
    assert failing["state"] == "failed" and failing["pages"] == 1
    assert failing["reason"] == f"fax failed: {ERROR}; 1 page sent"
    # The PDF went to the spool once, as a TIFF that every call read.
    assert [p.suffix for p in spool.iterdir()] == [".tif"]

    status = await daemon.cli("mailing", "status", "notice")
    assert re.search(r"delivered\s*│\s*2", status) and re.search(r"failed\s*│\s*1", status)
    report = await daemon.cli("report", "mailing", "notice", "-f", "csv")
    lines = report.strip().splitlines()
    assert lines[0].endswith("failed,expired,unknown,left_out,opted_out,fax_pages,parts,replies")
    assert ",fax,3,2,2,1,0,0,0,0,4,0,0" in lines, report

    requests = await double.control("GET", "/requests")
    continues = [r for r in requests if r["path"].endswith("/continue")]
    assert len(continues) == 3  # every answered call went into SendFAX, the busy one did not
    assert all(r["query"]["context"] == "ccd-fax" for r in continues)
    originates = [r for r in requests if (r["method"], r["path"]) == ("POST", "/ari/channels")]
    assert len(originates) == 4
    assert {r["query"]["endpoint"] for r in originates} == {
        f"PJSIP/{n}@city-trunk" for n in (DELIVERED, BUSY, FAILING)
    }
    ended = sorted(e["outcome"] for e in daemon.events("fax.ended"))
    assert ended == ["delivered", "delivered", "failed", "retry"]
