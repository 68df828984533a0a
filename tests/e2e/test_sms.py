"""SMSC links as an operator uses them today: `ccd smsc add` stores a carrier account and
`ccd smsc test` binds it and sends over it, against the SMSC double in a process of its own.
(Mailings over SMS and the inbox come with the mailings work; see the README.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from ccd.sim.smsc.process import SmscProcess
from tests.e2e.conftest import CcdFactory

pytestmark = pytest.mark.e2e


async def test_an_smsc_link_is_added_and_tested_with_a_long_message(
    ccd: CcdFactory, tmp_path: Path
) -> None:
    smsc = SmscProcess(tmp_path, {"ccd": "pw16"}, tps=5)
    smsc.start()
    try:
        await smsc.control("POST", "/receipts", {"prefix": "7916", "state": "delivered",
                                                 "before_resp": True})  # fmt: skip
        daemon = await ccd(start=False)
        out = await daemon.cli("smsc", "add", "carrier1", "--host", "127.0.0.1", "--port",
                               str(smsc.port), "--system-id", "ccd", "--password", "pw16",
                               "--tps", "5", "--window", "2", "--prefix", "+7916",
                               "--source-addr", "SHOP")  # fmt: skip
        assert "SMSC link carrier1 added" in out
        listing = await daemon.cli("smsc", "list")
        assert "carrier1" in listing and "pw16" not in listing
        text = "Скидка 20% на всё до воскресенья! Покажите это сообщение на кассе. " * 3
        out = await daemon.cli("smsc", "test", "carrier1", "--to", "+79161234567",
                               "--text", text, "--wait", "10")  # fmt: skip
        assert "carrier1: bound" in out
        assert all(f"part {n}/3: accepted" in out for n in (1, 2, 3)), out
        assert out.count(": delivered at ") == 3, out  # every receipt came before its resp
        submits = await smsc.control("GET", "/submits")
        assert "".join(s["text"] for s in submits) == text
        assert {s["source"] for s in submits} == {"SHOP"}
        state = await smsc.control("GET", "/state")
        assert state["throttled"] == 0 and state["all_sessions"][0]["max_per_second"] <= 5

        bad = await daemon.cli("smsc", "add", "x", "--host", "h", "--port", "70000",
                               "--system-id", "c", "--password", "p", check=False)  # fmt: skip
        assert "error: --port:" in bad
    finally:
        smsc.stop()
