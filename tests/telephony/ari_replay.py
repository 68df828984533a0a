"""A minimal ARI server for unit tests that replays recorded Asterisk 22 traffic.

It is not the protocol double (ccd.sim.asterisk): it only plays back, for an originate to a
programmed endpoint, the events a real Asterisk produced for the same call in a transcript,
with the recorded channel id replaced by ours. Events are sent before the HTTP response, as
Asterisk sometimes does (transcript README, fact 6).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from tests.asterisk22 import transcript as load


def events_of(name: str) -> list[dict[str, Any]]:
    return [s["event"] for s in load(name)["steps"] if s["dir"] == "event"]


def originated_ids(name: str) -> list[tuple[str, str]]:
    """(endpoint, channelId) of every ARI originate in a transcript, in order."""
    out = []
    for s in load(name)["steps"]:
        if s["dir"] == "rest" and s["method"] == "POST" and s["path"] == "/ari/channels":
            q = s["query"]
            if "channelId" in q and s["status"] == 200:
                out.append((q["endpoint"], q["channelId"]))
    return out


def call_events(name: str, rec_id: str, new_id: str) -> list[dict[str, Any]]:
    """The events of one recorded call (both Local halves), renamed to new_id."""
    out = []
    for ev in events_of(name):
        ch = ev.get("channel") or ev.get("peer") or {}
        pb = ev.get("playback") or {}
        if ch.get("id", "").split(";")[0] == rec_id or pb.get("target_uri") == f"channel:{rec_id}":
            out.append(json.loads(json.dumps(ev).replace(rec_id, new_id)))
    return out


def channel_json(channel_id: str, state: str = "Up") -> dict[str, Any]:
    """A channel as Asterisk 22 lists it (the recorded one from 01), renamed."""
    step = next(
        s for s in load("01-originate-answered-farend-hangup")["steps"] if s["dir"] == "rest"
    )
    recorded_id = step["query"]["channelId"]
    ch = json.loads(json.dumps(step["response"]).replace(recorded_id, channel_id))
    ch["state"] = state
    return ch


class ReplayAri:
    def __init__(self, user: str = "ccd", password: str = "ccdsecret") -> None:
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.programs: dict[str, tuple[str, str]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.live: dict[str, dict[str, Any]] = {}
        self.created: set[str] = set()
        self.sockets: list[web.WebSocketResponse] = []
        self.not_booted = False
        self.ws_connects = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    def program(self, endpoint: str, transcript: str, rec_id: str) -> None:
        self.programs[endpoint] = (transcript, rec_id)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/ari"

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def drop_websockets(self) -> None:
        """Cut the TCP connection under every websocket: no close frame, the client sees 1006."""
        for ws in self.sockets:
            transport = ws._req.transport if ws._req is not None else None  # noqa: SLF001
            if transport is not None:
                transport.abort()
        self.sockets.clear()

    async def send(self, event: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(event))
        if event["type"] == "ChannelDestroyed":
            self.live.pop(event["channel"]["id"], None)

    def _check(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != self._auth:
            return web.json_response({"message": "Authentication required"}, status=401)
        if self.not_booted:
            return web.json_response({"message": "Asterisk not booted"}, status=503)
        return None

    async def _events(self, request: web.Request) -> web.StreamResponse:
        refused = self._check(request)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connects += 1
        self.sockets.append(ws)
        async for _ in ws:
            pass
        return ws

    async def _rest(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        body = await request.json() if request.can_read_body else None
        path = "/" + request.match_info["tail"]
        self.requests.append((request.method, path, dict(request.query), body))
        if request.method == "GET" and path == "/channels":
            return web.json_response(list(self.live.values()))
        if request.method == "GET" and path == "/bridges":
            return web.json_response([])
        if request.method == "GET" and path == "/asterisk/info":
            info = next(
                s
                for s in load("17-lists")["steps"]
                if s["dir"] == "rest" and s["path"] == "/ari/asterisk/info"
            )
            return web.json_response(info["response"])
        if request.method == "GET" and path == "/applications/ccd":
            ids = list(self.live)
            return web.json_response(
                {
                    "name": "ccd",
                    "channel_ids": ids,
                    "bridge_ids": [],
                    "endpoint_ids": [],
                    "device_names": [],
                    "events_allowed": [],
                    "events_disallowed": [],
                }
            )
        if request.method == "POST" and path == "/channels":
            return await self._originate(request.query)
        if request.method == "GET" and path.startswith("/channels/") and path.count("/") == 2:
            ch = self.live.get(path.split("/")[2])
            if ch is None:
                return web.json_response({"message": "Channel not found"}, status=404)
            return web.json_response(ch)
        return web.Response(status=204)

    async def _originate(self, query: Any) -> web.Response:
        new_id = query["channelId"]
        if new_id in self.created:
            return web.json_response(
                {"message": "Channel with given unique ID already exists"}, status=409
            )
        self.created.add(new_id)
        transcript, rec_id = self.programs[query["endpoint"]]
        events = call_events(transcript, rec_id, new_id)
        response = next(
            s["response"]
            for s in load(transcript)["steps"]
            if s["dir"] == "rest"
            and s["path"] == "/ari/channels"
            and s["query"].get("channelId") == rec_id
        )
        channel = json.loads(json.dumps(response).replace(rec_id, new_id))
        self.live[new_id] = channel
        for ev in events:
            await self.send(ev)
        return web.json_response(channel)
