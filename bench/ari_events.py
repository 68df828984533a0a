"""ARI event throughput: events per second the client parses and dispatches, on one core.

A websocket server in a child process (so it does not share the client's core) replays
the events recorded from Asterisk 22 (tests/fixtures/asterisk-22), renamed over many calls,
as fast as it can. The client under test is ccd's AriClient (websocket reader + envelope
parsing) feeding, as AriPbx does, the per-call KeyedDispatcher with the event types AriPbx
acts on, to a handler that validates them into the ARI models; other types are dropped at
the reader. A naive variant that dispatches and validates every event is printed too.

Printed beside it, as the ratio's baseline, is the raw json.loads rate of the same messages
in the same run. Target: >= 20 000 events/s.

    .venv/bin/python bench/ari_events.py [--events 200000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing
import socket
import sys
import time
from pathlib import Path

from pydantic import AnyHttpUrl

from ccd.config import AsteriskNode
from ccd.telephony.ari_client import AriClient
from ccd.telephony.ari_events import AriEvent
from ccd.telephony.ari_pbx import ROUTED_EVENTS, wanted
from ccd.telephony.dispatch import KeyedDispatcher

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "asterisk-22"
TARGET = 20_000


def recorded_events() -> list[dict[str, object]]:
    out = []
    for path in sorted(TRANSCRIPTS.glob("*.json")):
        for step in json.loads(path.read_text())["steps"]:
            if step["dir"] == "event":
                out.append(step["event"])
    return out


def make_stream(n_events: int, n_calls: int) -> list[str]:
    """n_events messages: the recorded events cycled, channel ids spread over n_calls."""
    base = recorded_events()
    texts = []
    for i in range(n_events):
        ev = base[i % len(base)]
        text = json.dumps(ev)
        ch = ev.get("channel") or ev.get("peer")
        if isinstance(ch, dict) and "id" in ch:
            cid = str(ch["id"]).split(";")[0]
            text = text.replace(f'"{cid}', f'"{cid}-c{i % n_calls}')
        texts.append(text)
    return texts


def ws_frame(text: str) -> bytes:
    """One unmasked server-to-client text frame (RFC 6455)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 65536:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + data


_EMPTY_APP = json.dumps(
    {
        "name": "ccd",
        "channel_ids": [],
        "bridge_ids": [],
        "endpoint_ids": [],
        "device_names": [],
        "events_allowed": [],
        "events_disallowed": [],
    }
)
_REST = {
    "/ari/channels": "[]",
    "/ari/bridges": "[]",
    "/ari/asterisk/info": "{}",
    "/ari/applications/ccd": _EMPTY_APP,
}


def serve(port: int, texts: list[str], ready: multiprocessing.synchronize.Event) -> None:
    """A bare HTTP/websocket server: the stream is framed once up front and written in large
    chunks, so the server (not under test) sends far faster than any client can read."""
    stream = b"".join(ws_frame(t) for t in texts)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                path = head.split(" ", 2)[1].split("?", 1)[0]
                if path == "/ari/events":
                    key = next(
                        line.split(":", 1)[1].strip()
                        for line in head.split("\r\n")
                        if line.lower().startswith("sec-websocket-key:")
                    )
                    accept = base64.b64encode(
                        hashlib.sha1(
                            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
                        ).digest()
                    )
                    writer.write(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                    )
                    for k in range(0, len(stream), 1 << 20):
                        writer.write(stream[k : k + (1 << 20)])
                        await writer.drain()
                    await reader.read()  # until the client goes away
                    return
                body = _REST[path].encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_baseline(texts: list[str]) -> float:
    """json.loads rate per CPU second of this process."""
    start = time.process_time()
    for text in texts:
        json.loads(text)
    return len(texts) / (time.process_time() - start)


async def client_rate(port: int, n_events: int, naive: bool) -> tuple[float, float, int]:
    """Events per CPU second and per wall second, from connect until the last event was read
    and handled; and the events dropped. CPU time is this process's own: the machine may be
    shared, and the client runs on one core (one event loop, one thread).

    As AriPbx does: events of the types it acts on go through the per-call dispatcher to a
    handler that validates them into models; the others are dropped at the reader.
    naive=True dispatches and validates every event instead (the design we did not take).
    """
    received = 0
    all_read = asyncio.Event()

    async def handler(ev: AriEvent) -> None:
        ev.model()

    dispatcher: KeyedDispatcher[AriEvent] = KeyedDispatcher(handler, max_pending=n_events)

    def on_event(ev: AriEvent) -> None:
        nonlocal received
        received += 1
        if naive or (ev.type in ROUTED_EVENTS and wanted(ev)):
            dispatcher.submit(ev.key, ev)
        if received == n_events:
            all_read.set()

    async def on_reconnected(*_: object) -> None:
        pass

    node = AsteriskNode(name="bench", ari_url=AnyHttpUrl(f"http://127.0.0.1:{port}/ari"),
                        ari_password="x")  # fmt: skip
    client = AriClient(node, on_event=on_event, on_reconnected=on_reconnected)
    start, start_cpu = time.perf_counter(), time.process_time()
    await client.start()
    await asyncio.wait_for(all_read.wait(), 300)
    await dispatcher.drain()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    await client.close()
    await dispatcher.close()
    return n_events / cpu, n_events / wall, dispatcher.dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()

    texts = make_stream(args.events, args.calls)
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, texts, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            sys.exit("bench server did not start")
        asyncio.run(client_rate(port, args.events, naive=False))  # warm-up, not counted
        baseline = json_baseline(texts)
        rate, wall_rate, dropped = asyncio.run(client_rate(port, args.events, naive=False))
        naive_rate, _, _ = asyncio.run(client_rate(port, args.events, naive=True))
    finally:
        server.terminate()
        server.join()
    routed = sum(
        1
        for t in texts
        if json.loads(t)["type"] in ROUTED_EVENTS and wanted(AriEvent("bench", json.loads(t)))
    )
    print(
        f"events: {args.events:,} over {args.calls:,} calls, {routed / len(texts):.0%} of "
        f"them of types AriPbx acts on ({len(recorded_events())} recorded events cycled)"
    )
    print("rates per CPU second of the client process (one core):")
    print(f"  json.loads of the same messages (baseline): {baseline:>9,.0f} events/s")
    print(
        f"  ccd ARI client: ws read, parse, dispatch:   {rate:>9,.0f} events/s  "
        f"(ratio to baseline {rate / baseline:.2f}, dropped {dropped})"
    )
    print(f"  naive: dispatch + validate every event:     {naive_rate:>9,.0f} events/s")
    print(f"  (wall clock on this possibly shared machine: {wall_rate:,.0f} events/s)")
    verdict = "OK" if rate >= TARGET else "BELOW TARGET"
    print(f"target >= {TARGET:,} events/s per core: {verdict}")


if __name__ == "__main__":
    main()
