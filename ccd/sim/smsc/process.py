"""Start `python -m ccd.sim.smsc` as a process of its own and drive its control API
(for tests and benchmarks, which see the double as ccd sees a carrier's SMSC)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


class SmscProcess:
    def __init__(
        self, workdir: Path, accounts: dict[str, str], *, tps: int | None = None,
        window: int | None = None, receipts: bool = True,
    ) -> None:  # fmt: skip
        self.workdir = workdir
        self.accounts = accounts
        self.tps, self.window, self.receipts = tps, window, receipts
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "smsc.log"
        self.info: dict[str, Any] = {}

    def start(self, within: float = 30.0) -> None:
        ready = self.workdir / "smsc.json"
        ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "ccd.sim.smsc", "--ready-file", str(ready)]
        args += [a for sid, pw in self.accounts.items() for a in ("--account", f"{sid}:{pw}")]
        if self.tps:
            args += ["--tps", str(self.tps)]
        if self.window:
            args += ["--window", str(self.window)]
        if not self.receipts:
            args.append("--no-receipts")
        self.proc = subprocess.Popen(args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text()[-3000:]
                raise RuntimeError(f"the SMSC double did not start:\n{tail}")
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as http, http.request(
            method, self.info["control_url"] + path, json=body
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()
