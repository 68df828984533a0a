"""ARI over aiohttp: REST routed and checked by Asterisk's own schema, and /ari/events."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ccd.sim.asterisk.errors import AriError
from ccd.sim.asterisk.events import AriConnection, EventHub
from ccd.sim.asterisk.model import HANGUP_REASONS, Channel, timestamp
from ccd.sim.asterisk.pbx import Pbx
from ccd.sim.asterisk.schema import AriSchema, Operation, RouteError

Params = dict[str, Any]
Handler = Callable[[Params, dict[str, str], web.Request], Awaitable[web.Response]]
HTML_400 = ("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n"
            "<title>400 Bad Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n"
            "<p>Invalid application provided in URI.</p>\r\n<hr />\r\n"
            "<address>Asterisk</address>\r\n</body></html>\r\n")
HTML_426 = ("<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n"
            "<title>426 Upgrade Required</title>\r\n</head><body>\r\n<h1>Upgrade Required</h1>\r\n"
            "<p>Upgrade to websocket required.</p>\r\n<hr />\r\n"
            "<address>Asterisk</address>\r\n</body></html>\r\n")


@dataclass(slots=True)
class RecordedRequest:
    method: str
    path: str  # with /ari
    query: dict[str, str]
    body: Any
    status: int = 0


@dataclass(slots=True)
class Faults:
    booting: bool = False  # answer 503 "Asterisk not booted"
    delay: float = 0.0
    failures: list[tuple[str, int]] = field(default_factory=list)  # (path prefix, status) per hit
    slow: list[tuple[str, str, float]] = field(default_factory=list)  # (method, prefix, seconds)


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _no_content() -> web.Response:
    return web.Response(status=204)


def _to_param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, (int, float)):
        return str(value)
    return value


class AriServer:
    def __init__(self, pbx: Pbx, hub: EventHub, schema: AriSchema, *, user: str,
                 password: str, faults: Faults, info: Callable[[], dict[str, Any]]) -> None:
        self.pbx = pbx
        self.hub = hub
        self.schema = schema
        self.user = user
        self.password = password
        self.faults = faults
        self.info = info
        self.requests: list[RecordedRequest] = []
        # Fact 15: after a duplicate-id 409, the same keep-alive connection answers 409 again
        # for an originate that fails to allocate.
        self._leaky_409: weakref.WeakSet[Any] = weakref.WeakSet()
        self.handlers: dict[tuple[str, str], Handler] = {
            ("GET", "/asterisk/info"): self.asterisk_info,
            ("GET", "/asterisk/ping"): self.asterisk_ping,
            ("GET", "/asterisk/variable"): self.global_get,
            ("POST", "/asterisk/variable"): self.global_set,
            ("GET", "/channels"): self.channel_list,
            ("POST", "/channels"): self.originate,
            ("POST", "/channels/{channelId}"): self.originate,
            ("GET", "/channels/{channelId}"): self.channel_get,
            ("DELETE", "/channels/{channelId}"): self.channel_hangup,
            ("POST", "/channels/{channelId}/answer"): self.channel_answer,
            ("POST", "/channels/{channelId}/continue"): self.channel_continue,
            ("POST", "/channels/{channelId}/ring"): self.channel_control,
            ("DELETE", "/channels/{channelId}/ring"): self.channel_control,
            ("POST", "/channels/{channelId}/moh"): self.channel_control,
            ("DELETE", "/channels/{channelId}/moh"): self.channel_control,
            ("POST", "/channels/{channelId}/hold"): self.channel_control,
            ("DELETE", "/channels/{channelId}/hold"): self.channel_control,
            ("POST", "/channels/{channelId}/mute"): self.channel_control,
            ("DELETE", "/channels/{channelId}/mute"): self.channel_control,
            ("POST", "/channels/{channelId}/silence"): self.channel_control,
            ("DELETE", "/channels/{channelId}/silence"): self.channel_control,
            ("POST", "/channels/{channelId}/dtmf"): self.channel_dtmf,
            ("POST", "/channels/{channelId}/redirect"): self.channel_redirect,
            ("POST", "/channels/{channelId}/play"): self.channel_play,
            ("POST", "/channels/{channelId}/play/{playbackId}"): self.channel_play,
            ("POST", "/channels/{channelId}/record"): self.record,
            ("GET", "/channels/{channelId}/variable"): self.channel_var_get,
            ("POST", "/channels/{channelId}/variable"): self.channel_var_set,
            ("POST", "/channels/{channelId}/snoop"): self.channel_snoop,
            ("POST", "/channels/{channelId}/snoop/{snoopId}"): self.channel_snoop,
            ("GET", "/bridges"): self.bridge_list,
            ("POST", "/bridges"): self.bridge_create,
            ("POST", "/bridges/{bridgeId}"): self.bridge_create,
            ("GET", "/bridges/{bridgeId}"): self.bridge_get,
            ("DELETE", "/bridges/{bridgeId}"): self.bridge_destroy,
            ("POST", "/bridges/{bridgeId}/addChannel"): self.bridge_add,
            ("POST", "/bridges/{bridgeId}/removeChannel"): self.bridge_remove,
            ("POST", "/bridges/{bridgeId}/moh"): self.bridge_moh,
            ("DELETE", "/bridges/{bridgeId}/moh"): self.bridge_moh,
            ("POST", "/bridges/{bridgeId}/play"): self.bridge_play,
            ("POST", "/bridges/{bridgeId}/play/{playbackId}"): self.bridge_play,
            ("POST", "/bridges/{bridgeId}/record"): self.record,
            ("GET", "/playbacks/{playbackId}"): self.playback_get,
            ("DELETE", "/playbacks/{playbackId}"): self.playback_stop,
            ("GET", "/applications"): self.app_list,
            ("GET", "/applications/{applicationName}"): self.app_get,
            ("POST", "/applications/{applicationName}/subscription"): self.app_subscribe,
            ("DELETE", "/applications/{applicationName}/subscription"): self.app_subscribe,
            ("GET", "/endpoints"): self.endpoint_list,
            ("GET", "/endpoints/{tech}"): self.endpoint_list,
            ("GET", "/endpoints/{tech}/{resource}"): self.endpoint_get,
            ("GET", "/sounds"): self.sound_list,
            ("GET", "/recordings/stored"): self.stored_list,
            ("GET", "/recordings/stored/{recordingName}"): self.stored_get,
            ("DELETE", "/recordings/stored/{recordingName}"): self.stored_delete,
            ("GET", "/recordings/live/{recordingName}"): self.live_get,
            ("POST", "/recordings/live/{recordingName}/stop"): self.live_stop,
            ("DELETE", "/recordings/live/{recordingName}"): self.live_stop,
            ("POST", "/recordings/live/{recordingName}/pause"): self.live_pause,
            ("DELETE", "/recordings/live/{recordingName}/pause"): self.live_pause,
            ("GET", "/recordings/stored/{recordingName}/file"): self.stored_file,
        }

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_route("*", "/ari/{tail:.*}", self.dispatch)
        return application

    # ------------------------------------------------------------- plumbing
    def _authorized(self, request: web.Request) -> bool:
        key = request.query.get("api_key")
        if key is not None:
            return key == f"{self.user}:{self.password}"
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.user}:{self.password}"

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        if self.faults.booting:
            return _json(503, {"message": "Asterisk not booted"})
        if path == "/events" and request.method == "GET":
            return await self.events(request)
        raw = await request.read()
        record = RecordedRequest(request.method, f"/ari{path}", dict(request.query),
                                 raw.decode(errors="replace") if raw else None)
        self.requests.append(record)
        delay = self.faults.delay + sum(
            s for method, prefix, s in self.faults.slow
            if method == request.method and path.startswith(prefix)
        )
        if delay:
            await asyncio.sleep(delay)
        response = await self._handle(request, path, raw, record)
        record.status = response.status
        return response

    async def _handle(self, request: web.Request, path: str, raw: bytes,
                      record: RecordedRequest) -> web.Response:
        for i, (prefix, status) in enumerate(self.faults.failures):
            if path.startswith(prefix) or f"/ari{path}".startswith(prefix):
                del self.faults.failures[i]
                return _json(status, {"message": "Injected failure"})
        if not self._authorized(request):
            return web.Response(
                status=401, text=json.dumps({"message": "Authentication required"}),
                content_type="application/json",
                headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'})
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return _json(400, {"message": "Error parsing request body"})
            record.body = body
        try:
            op, args = self.schema.resolve(request.method, path)
            params = self._params(op, request, body)
            error = self.schema.check(op, {**params, **args})
            if error is not None:
                raise error
            handler = self.handlers.get((op.method, op.path))
            if handler is None:
                return _json(501, {"message": f"Not implemented by the double: {op.nickname}"})
            return await handler(params, args, request)
        except RouteError as exc:
            return _json(exc.status, {"message": exc.message})
        except AriError as exc:
            return _json(exc.status, exc.body)

    @staticmethod
    def _params(op: Operation, request: web.Request, body: Any) -> Params:
        params: Params = {}
        for name in set(request.query):
            if name != "api_key":
                params[name] = ",".join(request.query.getall(name))
        if isinstance(body, dict):
            for p in op.params:
                if p.name in body and p.name not in params:
                    params[p.name] = body[p.name] if p.kind == "body" else _to_param(body[p.name])
        return params

    # ------------------------------------------------------------ websocket
    async def events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _json(401, {"message": "Authentication required"})
        apps = [a for a in ",".join(request.query.getall("app", [])).split(",") if a]
        if not apps:
            return web.Response(status=400, text=HTML_400, content_type="text/html")
        ws = web.WebSocketResponse(autoping=True)
        if not ws.can_prepare(request).ok:
            return web.Response(status=426, text=HTML_426, content_type="text/html")
        await ws.prepare(request)
        subscribe_all = request.query.get("subscribeAll", "false").lower() == "true"
        conn = AriConnection(ws, request.transport, apps, subscribe_all)
        self.hub.connections.add(conn)
        try:
            async for _ in ws:
                pass  # Asterisk ignores what clients send on this socket
        finally:
            self.hub.connections.discard(conn)
            conn.close()
        return ws

    # ------------------------------------------------------------ asterisk
    async def asterisk_info(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        info = self.info()
        only = params.get("only")
        if only:
            info = {k: v for k, v in info.items() if k in only.split(",")}
        return _json(200, info)

    async def asterisk_ping(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        return _json(200, {"ping": "pong", "timestamp": timestamp(),
                           "asterisk_id": self.hub.asterisk_id})

    async def global_get(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        value = self.pbx.global_vars.get(params["variable"])
        if value is None:
            raise AriError(404, "Provided variable was not found")
        return _json(200, {"value": value})

    async def global_set(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        self.pbx.global_vars[params["variable"]] = params.get("value", "")
        return _no_content()

    # ------------------------------------------------------------- channels
    async def channel_list(self, params: Params, args: dict[str, str],
                           request: web.Request) -> web.Response:
        return _json(200, [c.json() for c in reversed(self.pbx.channels.values())])

    async def originate(self, params: Params, args: dict[str, str],
                        request: web.Request) -> web.Response:
        app = params.get("app") or None
        exten = params.get("extension") or None
        if not app and not exten:
            raise AriError(400, "Application or extension must be specified")
        variables = params.get("variables")
        try:
            timeout = float(params.get("timeout", 30))
        except ValueError as exc:
            raise AriError(400, "Invalid parameters for originating a channel") from exc
        try:
            ch, created = self.pbx.originate(
                params["endpoint"], app=app, app_args=params.get("appArgs", ""),
                channel_id=args.get("channelId") or params.get("channelId") or None,
                other_id=params.get("otherChannelId") or None,
                caller_id=params.get("callerId"), timeout=timeout,
                context=(params.get("context") or "default") if not app else None, exten=exten,
                variables={str(k): str(v) for k, v in variables.items()}
                if isinstance(variables, dict) else None,
                formats=params.get("formats"))
        except AriError as exc:
            if exc.status == 409:
                self._leaky_409.add(request.transport)
            elif exc.status == 500 and request.transport in self._leaky_409:
                raise AriError(409, "Channel with given unique ID already exists") from exc
            raise
        return _json(200, created)

    async def channel_get(self, params: Params, args: dict[str, str],
                          request: web.Request) -> web.Response:
        return _json(200, self.pbx.get(args["channelId"]).json())

    async def channel_hangup(self, params: Params, args: dict[str, str],
                             request: web.Request) -> web.Response:
        ch = self.pbx.get(args["channelId"])
        cause = 16
        if params.get("reason_code"):
            try:
                cause = int(params["reason_code"])
            except ValueError as exc:
                raise AriError(400, "Invalid reason for hangup provided") from exc
        elif params.get("reason"):
            cause = HANGUP_REASONS[params["reason"]]
        self.pbx.hangup(ch, cause, "app")
        return _no_content()

    async def channel_answer(self, params: Params, args: dict[str, str],
                             request: web.Request) -> web.Response:
        self.pbx.answer(self.pbx.control(args["channelId"]))
        return _no_content()

    async def channel_continue(self, params: Params, args: dict[str, str],
                               request: web.Request) -> web.Response:
        ch = self.pbx.control(args["channelId"])
        self.pbx.continue_in_dialplan(ch, params.get("context"), params.get("extension"))
        return _no_content()

    async def channel_control(self, params: Params, args: dict[str, str],
                              request: web.Request) -> web.Response:
        """ring, moh, hold, mute, silence, dtmf: 204 and no ARI events (10, fact 11)."""
        self.pbx.control(args["channelId"])
        return _no_content()

    async def channel_dtmf(self, params: Params, args: dict[str, str],
                           request: web.Request) -> web.Response:
        self.pbx.control(args["channelId"])
        if not params.get("dtmf"):
            raise AriError(400, "DTMF is required")
        return _no_content()

    async def channel_redirect(self, params: Params, args: dict[str, str],
                               request: web.Request) -> web.Response:
        ch = self.pbx.control(args["channelId"])
        endpoint = params["endpoint"]
        if "/" not in endpoint:
            raise AriError(400, "Invalid endpoint specified")
        if endpoint.split("/", 1)[0] != ch.tech:
            raise AriError(422, "Endpoint is not the same type as the channel")
        return _no_content()

    async def channel_play(self, params: Params, args: dict[str, str],
                           request: web.Request) -> web.Response:
        ch = self.pbx.control(args["channelId"])
        return self._play(ch, params, args)

    def _play(self, target: Any, params: Params, args: dict[str, str]) -> web.Response:
        pid = args.get("playbackId") or params.get("playbackId") or None
        if pid is not None and self.pbx.media.get(pid) is not None:
            raise AriError(409, "Playback with this id already exists")
        media = [m for m in params["media"].split(",") if m]
        return _json(201, self.pbx.media.play(target, media, pid).json())

    async def channel_var_get(self, params: Params, args: dict[str, str],
                              request: web.Request) -> web.Response:
        ch = self.pbx.channels.get(args["channelId"])
        if ch is None:
            raise AriError(404, "Provided channel was not found")
        name = params["variable"]
        builtin = {"CHANNEL": ch.name, "UNIQUEID": ch.uniqueid or ch.id,
                   "CALLERID(num)": ch.caller[1], "CALLERID(name)": ch.caller[0],
                   "TONE_DETECT(rx)": str(ch.tone_hits), "TONE_DETECT(tx)": "0"}
        value = builtin.get(name, ch.variables.get(name))
        if value is None:
            raise AriError(404, "Provided variable was not found")
        return _json(200, {"value": value})

    async def channel_var_set(self, params: Params, args: dict[str, str],
                              request: web.Request) -> web.Response:
        ch = self.pbx.control(args["channelId"])
        name, value = params["variable"], params.get("value", "")
        if name.startswith("TONE_DETECT(") and name.endswith(")"):
            freq = name[len("TONE_DETECT("):-1].split(",")[0]
            if not freq.isdigit():
                raise AriError(400, f"Invalid frequency '{freq}' for TONE_DETECT")
            ch.tone_detect.add(int(freq))  # 15: 204 and no ChannelVarset
            self.pbx.arm_tone_detect(ch)
            return _no_content()
        self.pbx.varset(ch, name, value)
        return _no_content()

    async def channel_snoop(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        spied = self.pbx.get(args["channelId"])
        app_args = params.get("appArgs", "")
        snoop_id = args.get("snoopId") or params.get("snoopId") or None
        created = self.pbx.snoop(spied, app_args.split(",") if app_args else [], snoop_id)
        return _json(200, created)

    # -------------------------------------------------------------- bridges
    async def bridge_list(self, params: Params, args: dict[str, str],
                          request: web.Request) -> web.Response:
        return _json(200, [b.json() for b in self.pbx.bridges.by_id.values()])

    async def bridge_create(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        bridge_id = args.get("bridgeId") or params.get("bridgeId") or None
        bridge = self.pbx.bridges.create(bridge_id, params.get("type"), params.get("name", ""))
        return _json(200, bridge.json())

    async def bridge_get(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        return _json(200, self.pbx.bridges.get(args["bridgeId"]).json())

    async def bridge_destroy(self, params: Params, args: dict[str, str],
                             request: web.Request) -> web.Response:
        self.pbx.bridges.destroy(self.pbx.bridges.get(args["bridgeId"]))
        return _no_content()

    async def bridge_add(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        bridge = self.pbx.bridges.get(args["bridgeId"])
        self.pbx.bridges.add(bridge, [c for c in params["channel"].split(",") if c])
        return _no_content()

    async def bridge_remove(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        bridge = self.pbx.bridges.get(args["bridgeId"])
        self.pbx.bridges.remove(bridge, [c for c in params["channel"].split(",") if c])
        return _no_content()

    async def bridge_moh(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        bridge = self.pbx.bridges.get(args["bridgeId"])  # fact 11: 204, no events
        bridge.moh_class = params.get("mohClass", "default") if request.method == "POST" else None
        return _no_content()

    async def bridge_play(self, params: Params, args: dict[str, str],
                          request: web.Request) -> web.Response:
        return self._play(self.pbx.bridges.get(args["bridgeId"]), params, args)

    # ------------------------------------------------------------ playbacks
    async def playback_get(self, params: Params, args: dict[str, str],
                           request: web.Request) -> web.Response:
        pb = self.pbx.media.get(args["playbackId"])
        if pb is None:
            raise AriError(404, "Playback not found")
        return _json(200, pb.json())

    async def playback_stop(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        pb = self.pbx.media.get(args["playbackId"])
        if pb is None:
            raise AriError(404, "Playback not found")
        self.pbx.media.stop(pb)
        return _no_content()

    # --------------------------------------------------------- applications
    def _app(self, name: str) -> dict[str, Any]:
        if name != self.hub.app:
            raise AriError(404, "Application does not exist.")
        return self.pbx.app_json()

    async def app_list(self, params: Params, args: dict[str, str],
                       request: web.Request) -> web.Response:
        return _json(200, [self.pbx.app_json()])

    async def app_get(self, params: Params, args: dict[str, str],
                      request: web.Request) -> web.Response:
        return _json(200, self._app(args["applicationName"]))

    async def app_subscribe(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        self._app(args["applicationName"])
        subscribe = request.method == "POST"
        for source in params["eventSource"].split(","):
            scheme, _, ident = source.partition(":")
            if scheme == "bridge":
                bridge = self.pbx.bridges.by_id.get(ident)
                if bridge is None:
                    raise AriError(422, "Event source does not exist")
                bridge.explicit_subscription = subscribe
            elif scheme == "channel":
                ch = self.pbx.channels.get(ident)
                if ch is None:
                    raise AriError(422, "Event source does not exist")
                ch.subscribed = subscribe or ch.in_stasis
            elif scheme not in ("endpoint", "deviceState"):
                raise AriError(400, "Invalid event source URI scheme")
        return _json(200, self.pbx.app_json())

    # ------------------------------------------------------------ sounds
    @staticmethod
    def _sound(sound_id: str) -> dict[str, Any]:
        return {"id": sound_id, "text": "", "formats": [{"language": "en", "format": "gsm"}]}

    async def sound_list(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        return _json(200, [self._sound(s) for s in self.pbx.media.sound_ids()])

    # ------------------------------------------------------------ endpoints
    def _endpoints(self) -> list[dict[str, Any]]:
        names = ["trunk", *sorted(self.pbx.trunk_caps)]
        out = []
        for name in dict.fromkeys(names):
            ids = [c.id for c in self.pbx.channels.values()
                   if c.tech == "PJSIP" and c.name.startswith(f"PJSIP/{name}-")]
            out.append({"technology": "PJSIP", "resource": name, "state": "online",
                        "channel_ids": ids})
        return out

    async def endpoint_list(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        tech = args.get("tech")
        found = [e for e in self._endpoints() if tech in (None, e["technology"])]
        if tech is not None and not found:
            raise AriError(404, "Endpoints not found")
        return _json(200, found)

    async def endpoint_get(self, params: Params, args: dict[str, str],
                           request: web.Request) -> web.Response:
        for e in self._endpoints():
            if (e["technology"], e["resource"]) == (args["tech"], args["resource"]):
                return _json(200, e)
        raise AriError(404, "Endpoint not found")

    # ----------------------------------------------------------- recordings
    async def record(self, params: Params, args: dict[str, str],
                     request: web.Request) -> web.Response:
        if "channelId" in args:
            target: Channel | Any = self.pbx.control(args["channelId"])
            if target.bridge is not None:
                raise AriError(409, "Channel is currently bridged")
            uri = f"channel:{target.id}"
        else:
            target = self.pbx.bridges.get(args["bridgeId"])
            uri = f"bridge:{target.id}"
        rec = self.pbx.recordings.start(
            params["name"], params["format"], uri, params.get("ifExists", "fail"),
            to_app=getattr(target, "subscribed", True))
        return _json(201, {**rec.json(), "state": "queued"})

    async def live_get(self, params: Params, args: dict[str, str],
                       request: web.Request) -> web.Response:
        return _json(200, self.pbx.recordings.get_live(args["recordingName"]).json())

    async def live_stop(self, params: Params, args: dict[str, str],
                        request: web.Request) -> web.Response:
        # stop keeps the file; DELETE (cancel) discards it
        self.pbx.recordings.finish(args["recordingName"], keep=request.method == "POST")
        return _no_content()

    async def live_pause(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        self.pbx.recordings.pause(args["recordingName"], request.method == "POST")
        return _no_content()

    async def stored_list(self, params: Params, args: dict[str, str],
                          request: web.Request) -> web.Response:
        return _json(200, [{"name": r.name, "format": r.format}
                           for r in self.pbx.recordings.stored.values()])

    async def stored_get(self, params: Params, args: dict[str, str],
                         request: web.Request) -> web.Response:
        rec = self.pbx.recordings.stored_get(args["recordingName"])
        return _json(200, {"name": rec.name, "format": rec.format})

    async def stored_file(self, params: Params, args: dict[str, str],
                          request: web.Request) -> web.Response:
        name = args["recordingName"]
        rec = self.pbx.recordings.stored_get(name)
        content_type, body = self.pbx.recordings.file(name)
        return web.Response(body=body, content_type=content_type, headers={
            "Content-Disposition": f'attachment; filename="{name}.{rec.format}"'})

    async def stored_delete(self, params: Params, args: dict[str, str],
                            request: web.Request) -> web.Response:
        if self.pbx.recordings.stored.pop(args["recordingName"], None) is None:
            raise AriError(404, "Recording not found")
        return _no_content()


def asterisk_info(asterisk_id: str, started: datetime) -> dict[str, Any]:
    """GET /asterisk/info as Asterisk 22.10.1 answers it (17)."""
    stamp = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{started.microsecond // 1000:03d}+0000"
    return {
        "build": {"os": "Linux", "kernel": "", "machine": "x86_64", "options": "OPTIONAL_API",
                  "date": started.strftime("%Y-%m-%d %H:%M:%S UTC"), "user": "ccd"},
        "system": {"version": "22.10.1", "entity_id": asterisk_id},
        "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""},
                   "max_channels": 500},
        "status": {"startup_time": stamp, "last_reload_time": stamp},
    }
