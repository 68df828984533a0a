"""The systemd notify protocol (Type=notify): READY, STATUS, WATCHDOG, STOPPING, RELOADING.

Datagrams go to $NOTIFY_SOCKET through the sdnotify package. Without that variable (ccd run
from a shell) every call is a no-op. The watchdog ping is sent from the event loop on purpose:
a loop blocked by a stuck callback stops the pings and systemd restarts the service.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping

import sdnotify

from ccd.log import get_logger

log = get_logger(__name__)


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between pings: half of WatchdogSec (WATCHDOG_USEC), as sd_watchdog_enabled(3)
    advises; None when no watchdog is set for this process."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("systemd.bad_watchdog_usec", value=usec)
        return None
    return value / 2_000_000 if value > 0 else None


class SystemdNotifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.watchdog_s = watchdog_interval(env) if self.enabled else None
        # sdnotify reads NOTIFY_SOCKET itself; it only ever sends datagrams, never raises.
        self._sd = sdnotify.SystemdNotifier() if self.enabled else None
        self._last_status: str | None = None

    def _send(self, message: str) -> None:
        if self._sd is not None:
            self._sd.notify(message)

    def ready(self, status: str | None = None) -> None:
        self._send("READY=1" + (f"\nSTATUS={status}" if status else ""))
        self._last_status = status
        log.info("systemd.ready", status=status)

    def status(self, text: str) -> None:
        """STATUS=<text>, only when it changed (systemctl status shows the latest)."""
        if text != self._last_status:
            self._last_status = text
            self._send(f"STATUS={text}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self, status: str = "stopping: no new calls, finishing live ones") -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    def reloading(self) -> None:
        """Before re-reading config; call ready() when the reload is done. MONOTONIC_USEC lets
        systemd (Type=notify-reload, v253+) match the reload to this message."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading configuration")

    async def run_watchdog(self) -> None:
        """Ping every watchdog_s from this event loop until cancelled (returns at once when
        systemd set no watchdog)."""
        if self.watchdog_s is None:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(self.watchdog_s)

    async def run(
        self,
        ready: Callable[[], Awaitable[tuple[bool, str]]],
        status: Callable[[], str],
        *,
        poll_s: float = 0.5,
        status_every_s: float = 5.0,
    ) -> None:
        """The service's lifecycle toward systemd, as one task for the daemon to start:
        watchdog pings from the start, READY=1 once `ready()` first reports (True, _),
        then STATUS=`status()` every `status_every_s`. Until ready, STATUS says what is
        missing (the text `ready()` returns). Runs until cancelled."""
        watchdog = asyncio.create_task(self.run_watchdog(), name="systemd-watchdog")
        try:
            while True:
                ok, detail = await ready()
                if ok:
                    break
                self.status(f"starting: waiting for {detail}")
                await asyncio.sleep(poll_s)
            self.ready(status())
            while True:
                await asyncio.sleep(status_every_s)
                self.status(status())
        finally:
            watchdog.cancel()


class ServiceSignals:
    """SIGTERM/SIGINT ask for a graceful stop; SIGHUP runs `on_reload` between RELOADING=1
    and READY=1 (READY=1 is sent even when the reload fails: systemd would wait otherwise).

    The daemon: `signals.install()`, start its work, `await signals.wait_for_stop()` (which
    sends STOPPING=1), stop taking calls, let live ones finish, then `signals.remove()`.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        *,
        on_reload: Callable[[], Awaitable[None]] | None = None,
        status: Callable[[], str] | None = None,
    ) -> None:
        self._notifier = notifier
        self._on_reload = on_reload
        self._status = status
        self._stop = asyncio.Event()
        self._reload_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._request_stop, sig)
        self._loop.add_signal_handler(signal.SIGHUP, self._request_reload)

    def remove(self) -> None:
        if self._loop is not None:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                self._loop.remove_signal_handler(sig)
            self._loop = None

    async def wait_for_stop(self) -> None:
        await self._stop.wait()
        self._notifier.stopping()

    def _request_stop(self, sig: signal.Signals) -> None:
        log.info("service.stop_requested", signal=sig.name)
        self._stop.set()

    def _request_reload(self) -> None:
        if self._reload_task is not None and not self._reload_task.done():
            log.info("service.reload_already_running")
            return
        self._reload_task = asyncio.get_running_loop().create_task(
            self._reload(), name="service-reload"
        )

    async def _reload(self) -> None:
        self._notifier.reloading()
        log.info("service.reloading")
        try:
            if self._on_reload is not None:
                await self._on_reload()
        except Exception as exc:  # the old configuration stays in force; say why
            log.error("service.reload_failed", error=f"{type(exc).__name__}: {exc}")
        else:
            log.info("service.reloaded")
        finally:
            self._notifier.ready(self._status() if self._status else None)
