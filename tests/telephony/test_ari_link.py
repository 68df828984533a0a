"""ARI REST errors (as recorded in transcript 16) and the event-link supervisor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ccd.config import AsteriskNode
from ccd.telephony import errors as e
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.ari_rest import AriRest
from ccd.telephony.pbx import CallEnded, LinkStatus, PbxEvent
from tests.telephony.ari_replay import ReplayAri, channel_json, load, originated_ids
from tests.telephony.waiting import eventually

EXPECTED = {
    400: e.AriBadRequest,
    401: e.AriAuthError,
    404: e.AriNotFound,
    405: e.AriError,
    409: e.AriConflict,
    422: e.AriUnprocessable,
    500: e.AriServerError,
}


def _recorded_errors() -> list[dict[str, Any]]:
    return [
        s
        for s in load("16-errors")["steps"]
        if s["dir"] == "rest"
        and s["status"] >= 400
        and s["path"] != "/ari/events"
        and isinstance(s.get("response"), dict)
    ]


@pytest.fixture
async def recorded_server() -> AsyncIterator[str]:
    """Answers each request with the response Asterisk gave to the same request."""
    pending = _recorded_errors()

    async def handle(request: web.Request) -> web.Response:
        for s in pending:  # in recorded order: one request got 409, then 500 (fact 15)
            if (s["method"], s["path"], s["query"]) == (
                request.method,
                request.path,
                {k: v for k, v in request.query.items()},
            ):
                pending.remove(s)
                return web.Response(
                    status=s["status"],
                    text=json.dumps(s["response"]),
                    content_type="application/json",
                )
        return web.Response(status=599)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/ari"
    await runner.cleanup()


async def test_recorded_error_statuses_map_to_typed_errors(recorded_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        rest = AriRest("pbx1", recorded_server, session)
        steps = _recorded_errors()
        assert len(steps) > 20
        for s in steps:
            with pytest.raises(e.AriError) as info:
                await rest.request(s["method"], s["path"].removeprefix("/ari"), params=s["query"])
            err = info.value
            assert type(err) is EXPECTED[s["status"]], s
            assert err.status == s["status"] and err.node == "pbx1"
            body = s["response"]
            assert err.asterisk_message == body.get("message", body.get("error"))
            assert "pbx1" in str(err)


async def test_refused_connection_and_timeout_are_typed() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(e.PbxUnavailable, match="pbx1"):
                await AriRest("pbx1", "http://127.0.0.1:1/ari", session).request("GET", "/channels")
            slow = AriRest("pbx1", f"http://127.0.0.1:{port}/ari", session, timeout_s=0.2)
            with pytest.raises(e.PbxTimeout, match="pbx1"):
                await slow.request("GET", "/channels")
    finally:
        server.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[PbxEvent] = []
        self.reconnects: list[tuple[str, frozenset[str]]] = []
        self.reconnected = asyncio.Event()

    async def on_pbx_event(self, event: PbxEvent) -> None:
        self.events.append(event)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        self.reconnects.append((node, live_call_ids))
        self.reconnected.set()


def _pbx(url: str, password: str = "ccdsecret", node: str = "pbx1") -> AriPbx:
    return AriPbx(
        [AsteriskNode(name=node, ari_url=url, ari_password=password)],
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


async def test_bad_credentials_fail_start_naming_the_node(replay: ReplayAri) -> None:
    pbx = _pbx(replay.url, password="wrong", node="pbx-east")
    pbx.set_handler(Recorder())
    with pytest.raises(e.AriAuthError, match="pbx-east") as info:
        await pbx.start()
    assert info.value.status == 401


async def test_reconnect_after_drop_resyncs_and_ends_lost_calls(replay: ReplayAri) -> None:
    endpoint, rec_id = originated_ids("05-noanswer-local-timeout")[0]
    replay.program(endpoint, "05-noanswer-local-timeout", rec_id)
    pbx = _pbx(replay.url)
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        assert rec.reconnects == [("pbx1", frozenset())]
        # Events flow before the drop ...
        await pbx.originate("ring-1", endpoint, caller_id="x", timeout_s=5)
        await eventually(lambda: any(isinstance(ev, CallEnded) for ev in rec.events))
        # Now a call that is live when the link drops and gone when it comes back.
        replay.live["ghost-1"] = channel_json("ghost-1")
        rec.reconnected.clear()
        replay.drop_websockets()
        await asyncio.wait_for(rec.reconnected.wait(), 5)
        assert pbx.link_status()["pbx1"] is LinkStatus.CONNECTED
        assert rec.reconnects[-1] == ("pbx1", frozenset({"ghost-1"}))
        assert replay.ws_connects == 2
        # ... and after it.
        await pbx.originate("ring-2", endpoint, caller_id="x", timeout_s=5)
        await eventually(lambda: sum(isinstance(ev, CallEnded) for ev in rec.events) == 2)
    finally:
        await pbx.close()
    assert pbx.link_status()["pbx1"] is LinkStatus.CLOSED


async def test_tracked_call_missing_after_reconnect_ends_once_as_lost(replay: ReplayAri) -> None:
    pbx = _pbx(replay.url)
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        # A call Asterisk reports at connect time is adopted...
        replay.live["1795333756.44"] = channel_json("1795333756.44")
        rec.reconnected.clear()
        replay.drop_websockets()
        await asyncio.wait_for(rec.reconnected.wait(), 5)
        assert rec.reconnects[-1][1] == frozenset({"1795333756.44"})
        # ... and when it has vanished at the next reconnect it ends, once, as lost.
        del replay.live["1795333756.44"]
        for _ in range(2):
            rec.reconnected.clear()
            replay.drop_websockets()
            await asyncio.wait_for(rec.reconnected.wait(), 5)
        await pbx.drain()
    finally:
        await pbx.close()
    ended = [ev for ev in rec.events if isinstance(ev, CallEnded)]
    assert [(x.call_id, x.lost, x.cause) for x in ended] == [("1795333756.44", True, None)]


async def test_not_booted_at_start_keeps_retrying_then_connects(replay: ReplayAri) -> None:
    replay.not_booted = True
    pbx = _pbx(replay.url)
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()  # does not raise: the node may come up later
    try:
        assert pbx.link_status()["pbx1"] is LinkStatus.RECONNECTING
        await asyncio.sleep(0.3)
        assert not rec.reconnects
        replay.not_booted = False
        await asyncio.wait_for(rec.reconnected.wait(), 5)
        assert pbx.link_status()["pbx1"] is LinkStatus.CONNECTED
    finally:
        await pbx.close()


async def test_duplicate_originate_counts_as_sent(replay: ReplayAri) -> None:
    endpoint, rec_id = originated_ids("01-originate-answered-farend-hangup")[0]
    replay.program(endpoint, "01-originate-answered-farend-hangup", rec_id)
    pbx = _pbx(replay.url)
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        replay.live.clear()
        await pbx.originate("dup-1", endpoint, caller_id="x", timeout_s=30)
        # The replay keeps the channel "live" for GET; a retry gets 409 and is confirmed.
        replay.live["dup-1"] = channel_json("dup-1")
        assert await pbx.originate("dup-1", endpoint, caller_id="x", timeout_s=30) == "pbx1"
        # A 409 for an id Asterisk does not have is an error, not "sent" (transcript 16).
        replay.created.add("never-sent")
        with pytest.raises(e.AriConflict):
            await pbx.originate("never-sent", endpoint, caller_id="x", timeout_s=30)
    finally:
        await pbx.close()
    posts = [r for r in replay.requests if r[0] == "POST" and r[1] == "/channels"]
    assert [p[2]["channelId"] for p in posts] == ["dup-1", "dup-1", "never-sent"]
    assert posts[0][3] is None  # no variables given: no body


async def test_two_nodes_each_call_knows_its_node() -> None:
    servers = [ReplayAri(), ReplayAri()]
    for server in servers:
        await server.start()
        for transcript in ("03-busy-local-17", "04-congestion-local-34"):
            endpoint, rec_id = originated_ids(transcript)[0]
            server.program(endpoint, transcript, rec_id)
    nodes = [
        AsteriskNode(name=f"pbx{i}", ari_url=s.url, ari_password="ccdsecret")
        for i, s in enumerate(servers)
    ]
    pbx = AriPbx(nodes)
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        assert sorted(node for node, _ in rec.reconnects) == ["pbx0", "pbx1"]
        busy = originated_ids("03-busy-local-17")[0][0]
        congested = originated_ids("04-congestion-local-34")[0][0]
        assert await pbx.originate("n1-call", busy, caller_id="x", timeout_s=5, node="pbx1") == (
            "pbx1"
        )
        # Without a node, the least loaded connected one is used: both are idle here.
        chosen = await pbx.originate("n-any", congested, caller_id="x", timeout_s=5)
        await eventually(lambda: sum(isinstance(ev, CallEnded) for ev in rec.events) == 2)
    finally:
        await pbx.close()
        for server in servers:
            await server.stop()
    ended = {ev.call_id: ev for ev in rec.events if isinstance(ev, CallEnded)}
    assert (ended["n1-call"].node, ended["n1-call"].outcome.value) == ("pbx1", "BUSY")
    assert (ended["n-any"].node, ended["n-any"].outcome.value) == (chosen, "CONGESTION")
    assert [
        r[2]["channelId"] for r in servers[1].requests if r[1] == "/channels" and r[0] == "POST"
    ][0] == "n1-call"
