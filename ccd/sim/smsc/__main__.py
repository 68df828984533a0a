"""The SMSC double in a process of its own, as a carrier's SMSC is to ccd.

    python -m ccd.sim.smsc --ready-file smsc.json --account ccd:secret [--port 2775 --tps 50]

Writes {"host", "port", "control_url", "pid"} to --ready-file once it listens, serves SMPP
and the control API (ccd.sim.smsc.control) until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ccd.log import configure_logging
from ccd.sim.process import announce_and_wait, start_control
from ccd.sim.smsc.control import control_app
from ccd.sim.smsc.double import HOST, ReceiptRule, SmscDouble


def _account(text: str) -> tuple[str, str]:
    system_id, sep, password = text.partition(":")
    if not sep or not system_id:
        raise argparse.ArgumentTypeError(f"--account: expected SYSTEM_ID:PASSWORD, got {text!r}")
    return system_id, password


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ccd.sim.smsc", description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--account", type=_account, action="append", required=True)
    p.add_argument("--tps", type=int, default=None, help="per session; default: no limit")
    p.add_argument("--window", type=int, default=None, help="per session; default: no limit")
    p.add_argument("--no-receipts", action="store_true", help="never send delivery receipts")
    p.add_argument("--ready-file", type=Path, required=True)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    smsc = SmscDouble(accounts=dict(args.account), tps=args.tps, window=args.window)
    if args.no_receipts:
        smsc.rules[""] = ReceiptRule(state=None)
    await smsc.start(args.port)
    control, control_port = await start_control(control_app(smsc), HOST, args.control_port)
    ready = {"host": HOST, "port": smsc.port, "control_url": f"http://{HOST}:{control_port}"}
    try:
        await announce_and_wait(args.ready_file, ready)
    finally:
        await control.cleanup()
        await smsc.stop()


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    configure_logging(args.log_level, "json")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
