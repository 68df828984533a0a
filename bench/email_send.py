"""Email channel throughput: messages/s from ccd's EmailChannel to a local SMTP server
(aiosmtpd in a process of its own, discarding what it receives), against a baseline in the
same run: bare aiosmtplib sends of one prebuilt message over the same number of connections.
Target: >= 300 messages/s per relay connection pool.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import aiosmtplib

from ccd.config import SmtpRelay
from ccd.messaging.channel import OutboundMessage, Outcome
from ccd.messaging.email import EmailChannel

TARGET = 300.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("aiosmtpd exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("aiosmtpd did not listen")


async def _channel(port: int, n: int, connections: int) -> float:
    relay = SmtpRelay(port=port, connections=connections, rate_per_s=1_000_000)
    channel = EmailChannel([relay], "bench@ccd.test")
    slots = asyncio.Semaphore(connections * 2)

    async def one(i: int) -> None:
        async with slots:
            result = await channel.send(OutboundMessage(
                i, "email", f"r{i}@example.com", f"Hello R{i},\n\nYour balance is {i}.50.",
                subject="Your balance", unsubscribe_url=f"https://cc.example.com/u/{i}-x",
            ))  # fmt: skip
            assert result.outcome is Outcome.SENT, result

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await channel.close()
    return elapsed


async def _bare(port: int, n: int, connections: int) -> float:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "bench@ccd.test", "r@example.com", "Your balance"
    msg.set_content("Hello R,\n\nYour balance is 1.50.")
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    for c in clients:
        await c.connect()
    per = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]

    async def worker(c: aiosmtplib.SMTP, k: int) -> None:
        for _ in range(k):
            await c.send_message(msg)

    started = time.perf_counter()
    await asyncio.gather(*(worker(c, k) for c, k in zip(clients, per, strict=True)))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.quit()
    return elapsed


def main() -> None:
    load1, _, _ = os.getloadavg()
    print(f"load average at start: {load1:.1f} on {os.cpu_count()} cores")
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(port, server)
        bare = asyncio.run(_bare(port, args.messages, args.connections))
        ours = asyncio.run(_channel(port, args.messages, args.connections))
    finally:
        server.terminate()
        server.wait(10)
    n, k = args.messages, args.connections
    print(f"bare aiosmtplib, one prebuilt message, {k} connections (baseline): "
          f"{n / bare:7.0f} messages/s")  # fmt: skip
    print(f"EmailChannel (build multipart + headers, pool of {k}):             "
          f"{n / ours:7.0f} messages/s")  # fmt: skip
    print(f"ratio channel / baseline: {ours / bare:.2f}x the time")
    verdict = "meets" if n / ours >= TARGET else "MISSES"
    print(f"{n / ours:.0f} messages/s: {verdict} the {TARGET:.0f}/s target")


if __name__ == "__main__":
    main()
