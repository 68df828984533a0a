"""The SMSC double on loopback (in this process, or in its own) and quick link settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ccd.messaging.channel import StatusReport
from ccd.messaging.sms.settings import LinkSettings
from ccd.sim.smsc.double import SmscDouble
from ccd.sim.smsc.process import SmscProcess

ACCOUNTS = {"ccd1": "secret1", "ccd2": "secret2", "ccd3": "secret3", "ccd4": "secret4"}


async def no_reports(report: StatusReport) -> None:
    """A status listener for tests that do not follow delivery reports."""


def link(port: int, name: str = "a", system_id: str = "ccd1", **kw: Any) -> LinkSettings:
    """Link settings with timers short enough for tests."""
    fast: dict[str, Any] = {
        "enquire_interval": 0.2, "dead_after": 0.8, "reconnect_min": 0.05,
        "reconnect_max": 0.2, "response_timeout": 3.0, "throttle_pause": 0.05,
        "source_addr": "CCD", "password": ACCOUNTS[system_id],
    }  # fmt: skip
    fast.update(kw)
    return LinkSettings(name=name, host="127.0.0.1", port=port, system_id=system_id, **fast)


@pytest.fixture
async def smsc() -> AsyncIterator[SmscDouble]:
    double = SmscDouble(accounts=ACCOUNTS)
    await double.start()
    try:
        yield double
    finally:
        await double.stop()


@pytest.fixture
def smsc_proc(tmp_path: Path) -> Iterator[SmscProcess]:
    proc = SmscProcess(tmp_path, ACCOUNTS)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
