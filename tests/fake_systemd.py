"""A stand-in for systemd's notify socket, shared by the notifier and daemon tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class FakeSystemd:
    """Binds NOTIFY_SOCKET and records every datagram with its arrival time (a thread, so
    arrivals are stamped even while the test's event loop is blocked)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def lines(self) -> list[str]:
        return [line for _, m in self.messages for line in m.splitlines()]

    def times_of(self, line: str) -> list[float]:
        return [t for t, m in self.messages if line in m.splitlines()]
