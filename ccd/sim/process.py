"""A double in a process of its own (`python -m ccd.sim.asterisk`, `python -m ccd.sim.smsc`):
its control API on loopback, a ready file for whoever started it, and SIGTERM/SIGINT to stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from aiohttp import web


async def start_control(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the control API; returns its runner (to clean up) and the port it listens on."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    server = site._server  # noqa: SLF001 - the only way to learn the ephemeral port
    assert isinstance(server, asyncio.Server)
    return runner, int(server.sockets[0].getsockname()[1])


async def announce_and_wait(ready_file: Path, ready: dict[str, Any]) -> None:
    """Write `ready` (and our pid) to the ready file, then wait for SIGTERM or SIGINT."""
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({**ready, "pid": os.getpid()}))
    tmp.replace(ready_file)  # readers never see half a file
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
