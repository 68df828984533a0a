"""The notify protocol against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccd.ops.systemd import ServiceSignals, SystemdNotifier, watchdog_interval
from tests.fake_systemd import FakeSystemd


@pytest.fixture
def systemd(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSystemd]:
    with tempfile.TemporaryDirectory(prefix="sd") as d:  # short: AF_UNIX paths max 107 bytes
        path = Path(d) / "notify"
        fake = FakeSystemd(path)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
        try:
            yield fake
        finally:
            fake.close()


async def _until(cond: Callable[[], bool], within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_ready_only_once_the_checks_pass(systemd: FakeSystemd) -> None:
    state = {"ok": False}

    async def ready() -> tuple[bool, str]:
        return state["ok"], "" if state["ok"] else "database (schema at 0001, needs 0002), pbx1.ami"

    notifier = SystemdNotifier()
    task = asyncio.create_task(
        notifier.run(ready, lambda: "2 campaigns running, 5 calls live", poll_s=0.02,
                     status_every_s=0.05)
    )  # fmt: skip
    await _until(lambda: any("waiting for database" in line for line in systemd.lines()))
    await asyncio.sleep(0.2)
    assert "READY=1" not in systemd.lines()
    assert "STATUS=starting: waiting for database (schema at 0001, needs 0002), pbx1.ami" in (
        systemd.lines()
    )
    state["ok"] = True
    await _until(lambda: "READY=1" in systemd.lines())
    assert "STATUS=2 campaigns running, 5 calls live" in systemd.lines()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notifier.stopping()
    await _until(lambda: "STOPPING=1" in systemd.lines())


async def test_status_lines_follow_the_status_function(systemd: FakeSystemd) -> None:
    live = {"n": 0}

    async def ready() -> tuple[bool, str]:
        return True, ""

    task = asyncio.create_task(
        SystemdNotifier().run(ready, lambda: f"1 campaigns running, {live['n']} calls live",
                              status_every_s=0.02)
    )  # fmt: skip
    await _until(lambda: "READY=1" in systemd.lines())
    live["n"] = 7
    await _until(lambda: "STATUS=1 campaigns running, 7 calls live" in systemd.lines())
    task.cancel()
    statuses = [line for line in systemd.lines() if line.startswith("STATUS=")]
    assert len(statuses) == len(set(statuses)), "an unchanged status is not re-sent"


async def test_watchdog_pings_while_the_loop_runs_and_stops_when_it_is_blocked(
    systemd: FakeSystemd,
) -> None:
    notifier = SystemdNotifier()
    assert notifier.watchdog_s == pytest.approx(0.1)
    task = asyncio.create_task(notifier.run_watchdog())
    await asyncio.sleep(0.55)
    running = len(systemd.times_of("WATCHDOG=1"))
    assert 4 <= running <= 8, running

    blocked_at = time.monotonic()
    time.sleep(0.6)  # noqa: ASYNC251 - a stuck callback: the loop cannot run the pinger
    unblocked_at = time.monotonic()
    await asyncio.sleep(0.25)
    task.cancel()

    pings = systemd.times_of("WATCHDOG=1")
    during = [t for t in pings if blocked_at + 0.05 < t < unblocked_at]
    assert during == [], "no ping may arrive while the loop is blocked"
    assert any(t > unblocked_at for t in pings), "pings resume with the loop"


async def test_reloading_carries_monotonic_usec(systemd: FakeSystemd) -> None:
    notifier = SystemdNotifier()
    notifier.reloading()
    notifier.ready("reloaded")
    await _until(lambda: "READY=1" in systemd.lines())
    lines = systemd.lines()
    assert "RELOADING=1" in lines
    usec = next(line for line in lines if line.startswith("MONOTONIC_USEC="))
    assert int(usec.split("=")[1]) > 0


def test_no_socket_means_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    notifier = SystemdNotifier()
    assert not notifier.enabled and notifier.watchdog_s is None
    notifier.ready()  # nothing to send to, nothing raised
    notifier.stopping()


def test_watchdog_interval_is_half_of_watchdog_sec_for_this_pid() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "junk"}) is None


async def test_sighup_reloads_between_reloading_and_ready_sigterm_stops(
    systemd: FakeSystemd,
) -> None:
    reloads: list[int] = []

    async def reload() -> None:
        reloads.append(1)
        if len(reloads) == 2:
            raise ValueError("flows/main.yaml: line 3: unknown node type")

    signals = ServiceSignals(SystemdNotifier(), on_reload=reload, status=lambda: "1 campaigns")
    signals.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        await _until(lambda: "READY=1" in systemd.lines())
        assert reloads == [1]
        lines = systemd.lines()
        assert lines.index("RELOADING=1") < lines.index("READY=1")
        assert "STATUS=1 campaigns" in lines

        os.kill(os.getpid(), signal.SIGHUP)  # a failed reload still ends with READY=1
        await _until(lambda: systemd.lines().count("READY=1") == 2)
        assert reloads == [1, 1]

        stopper = asyncio.create_task(signals.wait_for_stop())
        await asyncio.sleep(0.05)
        assert not stopper.done()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stopper, 3)
        await _until(lambda: "STOPPING=1" in systemd.lines())
    finally:
        signals.remove()
