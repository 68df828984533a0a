"""`ccd run` as systemd runs it: READY only once ARI and AMI are up, watchdog pings, /readyz,
SIGHUP reload, SIGTERM stop — against the protocol double and a fake notify socket."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ccd.domain.campaigns import CampaignStatus
from ccd.sim.asterisk import AsteriskDouble
from ccd.store.campaigns import set_status
from tests.dialer.conftest import eventually
from tests.dialer.helpers import free_port, make_campaign, spawn_daemon
from tests.fake_systemd import FakeSystemd


@pytest.fixture
def notify_socket() -> Iterator[FakeSystemd]:
    with tempfile.TemporaryDirectory(prefix="sd") as d:  # AF_UNIX paths are short
        fake = FakeSystemd(Path(d) / "notify")
        try:
            yield fake
        finally:
            fake.close()


async def _readyz(session: aiohttp.ClientSession, port: int) -> tuple[int, dict[str, object]]:
    async def answered() -> tuple[int, dict[str, object]] | None:
        try:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                return resp.status, await resp.json()
        except aiohttp.ClientConnectionError:
            return None  # the HTTP server is not up yet

    return await eventually(answered, within=30, what="/readyz to answer")  # type: ignore[no-any-return]


async def test_ready_after_ari_and_ami_then_reload_and_graceful_stop(
    db_url: str, double: AsteriskDouble, notify_socket: FakeSystemd, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "ccd.log"
    # AMI answers nothing at first: the daemon must not say READY on ARI alone.
    double.ami_half_open(True)
    proc = spawn_daemon(
        db_url, double, port, log,
        NOTIFY_SOCKET=str(notify_socket.sock.getsockname()), WATCHDOG_USEC="400000",
        CCD_FLOWS_DIR=str(Path(__file__).parents[2] / "flows"),
    )  # fmt: skip
    try:
        await eventually(
            lambda: _async(notify_socket.times_of("WATCHDOG=1").__len__() >= 2),
            within=20,
            what="watchdog pings while starting",
        )
        assert "READY=1" not in notify_socket.lines()
        async with aiohttp.ClientSession() as session:
            status, body = await _readyz(session, port)
            assert status == 503, body
            assert any(c["name"] == "pbx1.ami" and not c["ok"] for c in body["checks"])  # type: ignore[index, union-attr]

            double.ami_half_open(False)
            await eventually(
                lambda: _async("READY=1" in notify_socket.lines()), within=30, what="READY=1"
            )
            status, body = await _readyz(session, port)
            assert status == 200, body
            assert "STATUS=0 campaigns running, 0 calls live" in notify_socket.lines()
            # A campaign started with the CLI's call counts in the next STATUS= line.
            conn = await asyncpg.connect(db_url)
            try:
                await make_campaign(conn, "status-line")
                await set_status(conn, "status-line", CampaignStatus.RUNNING)
            finally:
                await conn.close()
            await eventually(
                lambda: _async(any(line.startswith("STATUS=1 campaigns running")
                                   for line in notify_socket.lines())),
                within=15, what="STATUS= counting the running campaign",
            )  # fmt: skip

        before = len(notify_socket.times_of("READY=1"))
        proc.send_signal(signal.SIGHUP)
        await eventually(
            lambda: _async(len(notify_socket.times_of("READY=1")) > before),
            within=10,
            what="READY=1 after the reload",
        )
        assert any(line.startswith("RELOADING=1") for line in notify_socket.lines())
        assert "inbound.flows_loaded" in log.read_text()
        # Startup objects are out of the collector's reach (its full passes stalled calls).
        (serving,) = [e for e in _events(log) if e["event"] == "daemon.serving"]
        assert serving["heap_frozen"] > 10_000

        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)
        assert proc.returncode == 0, log.read_text()[-3000:]
        assert "STOPPING=1" in notify_socket.lines()
    finally:
        if proc.poll() is None:
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)


async def _async(value: bool) -> bool:
    """`eventually` awaits its check; these checks read memory, so wrap the value."""
    return value


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
