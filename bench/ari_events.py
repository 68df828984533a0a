"""ARI event throughput: events per second the client parses and dispatches, on one core.

A websocket server in a child process (so it does not share the client's core) replays
the events recorded from Asterisk 22 (tests/telephony/transcripts), renamed over many calls,
as fast as it can. The client under test is ccd's AriClient (websocket reader + envelope
parsing) feeding the per-call KeyedDispatcher, with a handler that validates the events
AriPbx routes (call life cycle) and skips the rest, as AriPbx does.

Printed beside it, as the ratio's baseline, is the raw json.loads rate of the same messages
in the same run. Target: >= 20 000 events/s.

    .venv/bin/python bench/ari_events.py [--events 200000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import time
from pathlib import Path

from aiohttp import web

from ccd.config import AsteriskNode
from ccd.telephony.ari_client import AriClient
from ccd.telephony.ari_events import AriEvent
from ccd.telephony.dispatch import KeyedDispatcher

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "tests" / "telephony" / "transcripts"
TARGET = 20_000
# The event types AriPbx validates into models; the rest are routed and skipped.
ROUTED = frozenset(
    {
        "Dial",
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "ChannelDtmfReceived",
        "PlaybackFinished",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelToneDetected",
    }
)


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


def serve(port: int, texts: list[str], ready: multiprocessing.synchronize.Event) -> None:
    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for text in texts:
            await ws.send_str(text)
        async for _ in ws:
            pass
        return ws

    async def empty_list(_: web.Request) -> web.Response:
        return web.json_response([])

    async def application(_: web.Request) -> web.Response:
        return web.json_response(
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

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_get("/ari/channels", empty_list)
    app.router.add_get("/ari/bridges", empty_list)
    app.router.add_get("/ari/applications/ccd", application)

    async def main() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_baseline(texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        json.loads(text)
    return len(texts) / (time.perf_counter() - start)


async def client_rate(port: int, n_events: int, validate_all: bool) -> tuple[float, int]:
    """Events/s from connect until the last event was handled; and the events dropped."""
    handled = 0
    done = asyncio.Event()

    async def handler(ev: AriEvent) -> None:
        nonlocal handled
        if validate_all or ev.type in ROUTED:
            ev.model()
        handled += 1
        if handled == n_events:
            done.set()

    dispatcher: KeyedDispatcher[AriEvent] = KeyedDispatcher(handler, max_pending=n_events)

    async def on_reconnected(*_: object) -> None:
        pass

    node = AsteriskNode(name="bench", ari_url=f"http://127.0.0.1:{port}/ari", ari_password="x")
    client = AriClient(
        node, on_event=lambda ev: dispatcher.submit(ev.key, ev), on_reconnected=on_reconnected
    )
    start = time.perf_counter()
    await client.start()
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - start
    await client.close()
    await dispatcher.close()
    return n_events / elapsed, dispatcher.dropped


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
        baseline = json_baseline(texts)
        rate, dropped = asyncio.run(client_rate(port, args.events, validate_all=False))
        full_rate, _ = asyncio.run(client_rate(port, args.events, validate_all=True))
    finally:
        server.terminate()
        server.join()
    print(
        f"events: {args.events} over {args.calls} calls "
        f"({len(recorded_events())} recorded events cycled)"
    )
    print(f"json.loads baseline:          {baseline:>10,.0f} events/s")
    print(
        f"ccd ARI client, ws->dispatch: {rate:>10,.0f} events/s  "
        f"(ratio to baseline {rate / baseline:.2f}, dropped {dropped})"
    )
    print(f"  same, every event validated: {full_rate:>10,.0f} events/s  (why validation is lazy)")
    verdict = "OK" if rate >= TARGET else "BELOW TARGET"
    print(f"target >= {TARGET:,} events/s: {verdict}")


if __name__ == "__main__":
    main()
