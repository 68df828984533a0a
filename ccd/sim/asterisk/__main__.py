"""The Asterisk double in a process of its own, as Asterisk runs beside ccd.

    python -m ccd.sim.asterisk --ready-file double.json [--ari-port 8088 --ami-port 5038]

Writes {"ari_url", "ami_port", "control_url", "pid"} to --ready-file once it listens, serves
ARI, AMI and the control API (ccd.sim.asterisk.control) until SIGTERM/SIGINT. Started again
with the same ports after a `kill -9`, it is an Asterisk that crashed and came back: nothing
survives.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from ccd.log import configure_logging
from ccd.ops.heap import freeze_startup_objects
from ccd.sim.asterisk.control import control_app
from ccd.sim.asterisk.double import HOST, AsteriskDouble
from ccd.sim.process import announce_and_wait, start_control


def _trunk_cap(text: str) -> tuple[str, int]:
    name, sep, n = text.partition("=")
    if not sep or not n.isdigit():
        raise argparse.ArgumentTypeError(f"--trunk-cap: expected NAME=N, got {text!r}")
    return name, int(n)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ccd.sim.asterisk", description=__doc__)
    p.add_argument("--ari-port", type=int, default=0)
    p.add_argument("--ami-port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=1.0, help="simulated s per real s")
    p.add_argument("--trunk-cap", type=_trunk_cap, action="append", default=[])
    p.add_argument("--password", default="ccdsecret", help="ARI password and AMI secret")
    p.add_argument("--node", default="pbx1")
    p.add_argument("--ready-file", type=Path, required=True)
    p.add_argument("--log-level", default="warning")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    double = AsteriskDouble(
        time_scale=args.time_scale, trunk_caps=dict(args.trunk_cap), node=args.node,
        ari_password=args.password, ami_secret=args.password,
    )  # fmt: skip
    await double.start(ari_port=args.ari_port, ami_port=args.ami_port)
    control, control_port = await start_control(control_app(double), HOST, args.control_port)
    # C Asterisk has no collector pauses for the double to imitate.
    freeze_startup_objects()
    ready = {
        "ari_url": double.ari_url, "ari_port": double.ari_port, "ami_host": double.ami_host,
        "ami_port": double.ami_port, "control_url": f"http://{HOST}:{control_port}",
    }  # fmt: skip
    try:
        await announce_and_wait(args.ready_file, ready)
    finally:
        await control.cleanup()
        await double.stop()


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    configure_logging(args.log_level, "json")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
