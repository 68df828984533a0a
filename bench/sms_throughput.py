"""SMS throughput: submit_sm per second from ccd's SMS gateway to the SMSC double.

The double runs in a process of its own (`python -m ccd.sim.smsc`), as a carrier's SMSC
would. Three runs, in this order, in the same process pair:

1. baseline: the double's no-op rate, what it answers when the client does nothing but
   write pre-encoded submit_sm on 4 binds (up to 256 outstanding each) and count the resps;
2. ccd: SmsGateway.send() of one-part messages to 4 links with no TPS limit (window 64
   each), many sends at once, as a mailing would. Target >= 2 000 messages/s;
3. TPS limit: the same 4 links with --tps each, sending for a few seconds; the double
   records when every submit_sm arrived and reports the most it saw in any 1-s window per
   link: never above the limit.

Receipts are off in runs 1 and 2 (--receipts turns them on: one deliver_sm more per message).

    .venv/bin/python bench/sms_throughput.py [--messages 20000] [--tps 100] [--receipts]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from functools import partial
from pathlib import Path

from ccd.log import configure_logging
from ccd.messaging.sms.gateway import PartStatus, SmsGateway
from ccd.messaging.sms.pdu import HEADER, Bind, Command, Pdu, ShortMessage, frame_length
from ccd.messaging.sms.settings import LinkSettings
from ccd.sim.smsc.process import SmscProcess

TARGET = 2000
ACCOUNTS = {f"bench{i}": f"pw{i}" for i in range(1, 5)}


class _RawEsme(asyncio.Protocol):
    """Bind, then keep `window` submit_sm in flight; counts the resps."""

    def __init__(self, system_id: str, password: str, total: int, window: int) -> None:
        self.bind = Pdu(Command.BIND_TRANSCEIVER, 0, 1, Bind(system_id, password).encode())
        body = ShortMessage("CCD", "79161234567", b"bench", registered_delivery=0).encode()
        self.submit = body
        self.total, self.window = total, window
        self.sent = self.answered = 0
        self.buffer = bytearray()
        self.done = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.bind.encode())

    def _send(self, n: int) -> None:
        assert self.transport is not None
        n = min(n, self.total - self.sent)
        self.transport.write(b"".join(Pdu(Command.SUBMIT_SM, 0, self.sent + i + 2,
                                          self.submit).encode() for i in range(n)))  # fmt: skip
        self.sent += n

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            length = frame_length(bytes(self.buffer[:4]))
            if len(self.buffer) < length:
                return
            command = int.from_bytes(self.buffer[4:8], "big")
            del self.buffer[:length]
            if command == Command.BIND_TRANSCEIVER_RESP:
                self._send(self.window)
            elif command == Command.SUBMIT_SM_RESP:
                self.answered += 1
                if self.answered == self.total:
                    self.done.set_result(None)
                else:
                    self._send(1)


async def baseline(smsc: SmscProcess, total: int) -> float:
    loop = asyncio.get_running_loop()
    per = total // len(ACCOUNTS)
    esmes = []
    started = time.perf_counter()
    for sid, pw in ACCOUNTS.items():
        _, esme = await loop.create_connection(partial(_RawEsme, sid, pw, per, 256),
                                               "127.0.0.1", smsc.port)  # fmt: skip
        esmes.append(esme)
    await asyncio.gather(*(e.done for e in esmes))
    took = time.perf_counter() - started
    for e in esmes:
        assert e.transport is not None
        e.transport.close()
    return per * len(esmes) / took


def _links(port: int, tps: int | None) -> list[LinkSettings]:
    return [LinkSettings(name=f"l{i}", host="127.0.0.1", port=port, system_id=sid, password=pw,
                         tps=tps, window=64)  # fmt: skip
            for i, (sid, pw) in enumerate(ACCOUNTS.items(), start=1)]


async def through_gateway(smsc: SmscProcess, total: int, tps: int | None) -> float:
    gw = SmsGateway(_links(smsc.port, tps), on_receipt=lambda r: None, on_inbound=lambda m: None)
    gw.start()
    for link in gw.links.values():
        await link.wait_bound(10)
    todo = iter(range(total))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for i in todo:
            result = await gw.send(f"+7916{i:07d}", f"Your code is {i:06d}", str(i))
            failed += result.parts[0].status is not PartStatus.ACCEPTED

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(400)))
    took = time.perf_counter() - started
    await gw.close()
    if failed:
        raise SystemExit(f"{failed} of {total} messages not accepted")
    return total / took


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        smsc = SmscProcess(Path(tmp), ACCOUNTS, receipts=args.receipts)
        smsc.start()
        try:
            base = await baseline(smsc, args.messages)
            rate = await through_gateway(smsc, args.messages, None)
            before = await smsc.control("GET", "/state")
            limited = args.tps * 4 * args.seconds
            await through_gateway(smsc, limited, args.tps)
            after = await smsc.control("GET", "/state")
        finally:
            smsc.stop()
    done = len(before["all_sessions"])
    windows = [s["max_per_second"] for s in after["all_sessions"][done:] if s["accepted"]]
    print(f"SMS submit_sm to the SMSC double (own process), 4 links, receipts "
          f"{'on' if args.receipts else 'off'}, {args.messages:,} one-part messages")  # fmt: skip
    print(f"  double's no-op rate (raw pipelined ESME, baseline): {base:>9,.0f} submit_sm/s")
    print(f"  ccd SmsGateway, no TPS limit, window 64:            {rate:>9,.0f} messages/s "
          f"(ratio to baseline {rate / base:.2f})")  # fmt: skip
    print(f"  target >= {TARGET:,}/s: {'met' if rate >= TARGET else 'NOT met'}")
    print(f"  TPS limit {args.tps} per link, {limited:,} messages: most the SMSC saw in any 1-s "
          f"window per link: {windows} ({'never above' if max(windows) <= args.tps else 'ABOVE'}"
          f" the limit; throttled {after['throttled'] - before['throttled']})")  # fmt: skip


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--messages", type=int, default=20_000)
    p.add_argument("--tps", type=int, default=100)
    p.add_argument("--seconds", type=int, default=4, help="length of the TPS-limited run")
    p.add_argument("--receipts", action="store_true")
    configure_logging("warning")
    asyncio.run(main(p.parse_args()))
