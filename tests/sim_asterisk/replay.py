"""Replays a recorded Asterisk 22 transcript against the double and compares what comes back.

The requests and AMI actions of a transcript are sent in their recorded order. Before each one the
runner waits until the double has produced as many (projected) events as the recording had at that
point, and until the recorded time (times the pace factor) has passed, so far-end timers and
requests interleave as they did. Events are compared per stream (one channel, one Dial peer, one
playback, one bridge, one AMI ActionID): same types in the same order with the same causes, states
and statuses. Ids and timestamps are not compared; Asterisk's own race between two channels'
events is not either (README fact 6 shows it varies between runs).

What is left out of the comparison, because it comes from the recorder's sim-pstn far-end
dialplan rather than from Asterisk's protocol: ChannelDialplan events, the PLAYBACKSTATUS variable
of a far end's Playback(), and caller-id updates a Local far end makes after answering (19/19b).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.sim.asterisk.schema import AriSchema, ModelSchema, RouteError

Key = tuple[Any, ...]
NAME_SEQ = re.compile(r"-[0-9a-f]{8}(?=;|$)")
FAR_END_VARS = {"PLAYBACKSTATUS"}
AMI_EVENTS = {
    "FullyBooted", "SuccessfulAuth", "RequestBadFormat", "OriginateResponse", "Newchannel",
    "Newstate", "DialBegin", "DialState", "DialEnd", "HangupRequest", "SoftHangupRequest",
    "Hangup", "CoreShowChannel", "CoreShowChannelsComplete", "Status", "StatusComplete",
    "QueueParams", "QueueMember", "QueueEntry", "QueueStatusComplete", "QueueSummary",
    "QueueSummaryComplete", "QueueCallerJoin", "QueueCallerAbandon", "QueueCallerLeave",
    "AgentCalled", "QueueMemberStatus",
}
AMI_FIELDS = ("Response", "Message", "EventList", "ListItems", "ChannelStateDesc", "DialStatus",
              "Cause", "Cause-txt", "Reason", "Queue", "Ping", "AMIversion", "AsteriskVersion",
              "Status", "Position", "Count", "Calls", "Callers", "Available")


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def norm_name(name: str) -> str:
    return NAME_SEQ.sub("-N", name)


# ------------------------------------------------------------------ ARI events
def ari_key(event: dict[str, Any], ids: dict[str, str]) -> tuple[str, Key] | None:
    """(stream, key) of an ARI event, or None when it is left out of the comparison."""
    type_ = event["type"]
    ch = event.get("channel") or event.get("peer")
    if type_ == "ChannelDialplan":
        return None
    if type_ == "ChannelVarset" and event["variable"] in FAR_END_VARS:
        return None
    if type_ in ("ChannelCallerId", "ChannelConnectedLine") and ch and ch["id"].endswith(";2") \
            and ch["state"] == "Up":
        return None
    key: list[Any] = [type_]
    if ch is not None and type_ != "Dial":  # a Dial's peer state races its ChannelStateChange
        key.append(ch["state"])
    for name in ("cause", "cause_txt", "soft", "tech_cause", "dialstatus", "dialstring", "args",
                 "digit", "duration_ms"):
        if name in event:
            key.append((name, event[name]))
    if type_ == "ChannelVarset":
        name, value = event["variable"], event["value"]
        if name.startswith("RTPAUDIOQOS") or name == "BRIDGEPVTCALLID":
            key.append((name, bool(value)))
        else:
            key.append((name, norm_name(value)))
    if "playback" in event:
        pb = event["playback"]
        key.append((pb["state"], pb["media_uri"], pb.get("next_media_uri")))
    if "bridge" in event:
        key.append(("bridge", event["bridge"]["id"]))
    if type_ == "Dial":
        stream = "dial:" + ids.get(ch["id"], ch["id"])
    elif "playback" in event:
        stream = "playback:" + ids.get(event["playback"]["id"], event["playback"]["id"])
    elif ch is None:
        stream = "bridge:" + event["bridge"]["id"]
    else:
        stream = ids.get(ch["id"], ch["id"])
    return stream, tuple(key)


def parse_ami(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.split("\r\n"):
        if ": " in line or line.endswith(":"):
            k, _, v = line.partition(":")
            out.setdefault(k, v.strip())
    return out


def ami_key(block: dict[str, str]) -> tuple[str, Key] | None:
    if "Response" in block:
        return "action:" + block.get("ActionID", ""), tuple(
            (f, block[f]) for f in AMI_FIELDS if f in block and f not in ("Ping",))
    event = block.get("Event")
    if event not in AMI_EVENTS:
        return None
    key = (event, *((f, norm_name(block[f])) for f in AMI_FIELDS if f in block))
    if event == "OriginateResponse":
        key = (*key, ("Channel", norm_name(block.get("Channel", ""))))
    if "ActionID" in block:
        return "action:" + block["ActionID"], key
    name = block.get("Channel") or block.get("DestChannel") or ""
    return "chan:" + norm_name(name), key


def group(keys: list[tuple[str, Key]]) -> dict[str, list[Key]]:
    streams: dict[str, list[Key]] = defaultdict(list)
    for stream, key in keys:
        streams[stream].append(key)
    # An EventList's items may come in any order (hash order of channels): compare them sorted.
    for stream, seq in streams.items():
        if stream.startswith("action:") and len(seq) > 2:
            streams[stream] = [seq[0], *sorted(seq[1:-1], key=repr), seq[-1]]
    return dict(streams)


# ------------------------------------------------------------------ REST shape
def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def rest_view(path: str, status: int, body: Any) -> Key:
    """What is compared of a REST answer: status, shape, error texts, states and values."""
    view: list[Any] = [status, shape(body) if not path.endswith("/endpoints") else None]
    if isinstance(body, dict):
        for name in ("message", "error", "value", "bridge_type", "technology", "media_uri",
                     "next_media_uri"):
            if name in body:
                view.append((name, body[name]))
        if "state" in body and status != 201:
            view.append(("state", body["state"]))
    if isinstance(body, list) and not path.endswith(("/endpoints", "/PJSIP")):
        view.append(("len", len(body)))
    return tuple(view)


# ------------------------------------------------------------------ scenarios
@dataclass
class Setup:
    far_ends: dict[str, FarEnd] = field(default_factory=dict)
    inbound: list[dict[str, Any]] = field(default_factory=list)
    missing_sounds: set[str] = field(default_factory=set)
    sound_seconds: dict[str, float] = field(default_factory=dict)
    queues: dict[str, tuple[list[str], str]] = field(default_factory=dict)  # members, context
    # (method, path, variable query parameter) of REST steps whose answer is not compared -> why
    unchecked: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # Set (to the reason) when the recording's events are one of several outcomes of a race that
    # another recording shows the other way: then only REST, websocket and AMI are compared.
    events_unchecked: str | None = None


@dataclass
class Mismatch:
    where: str
    recorded: Any
    double: Any

    def __str__(self) -> str:
        return f"{self.where}:\n  recorded: {self.recorded}\n  double:   {self.double}"


class Runner:
    """Drives one transcript against a started double."""

    def __init__(self, double: AsteriskDouble, transcript: dict[str, Any], setup: Setup,
                 pace: float) -> None:
        self.double = double
        self.t = transcript
        self.setup = setup
        self.pace = pace
        self.ids: dict[str, str] = {}  # double id -> transcript id
        self.to_double: dict[str, str] = {}  # transcript id -> double id
        self.ari_events: list[dict[str, Any]] = []
        self.ami_in: list[dict[str, str]] = []
        self.mismatches: list[Mismatch] = []
        self.ws: dict[str, aiohttp.ClientWebSocketResponse] = {}
        self.ws_tasks: dict[str, asyncio.Task[int | None]] = {}
        self.ami: dict[str, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
        self.ami_tasks: dict[str, asyncio.Task[None]] = {}
        self.restart: asyncio.Task[None] | None = None
        self.inbound_ids = [i for i in self._inbound_transcript_ids()]
        self.changed = asyncio.Event()
        self.models = ModelSchema.load()
        self.schema = AriSchema.load()

    def _inbound_transcript_ids(self) -> list[str]:
        seen: list[str] = []
        for step in self.t["steps"]:
            if step["dir"] == "event" and step["event"]["type"] == "StasisStart":
                cid = step["event"]["channel"]["id"]
                if re.fullmatch(r"\d+\.\d+", cid) and cid not in seen:
                    seen.append(cid)
        return seen

    # ------------------------------------------------------------- collecting
    async def _collect_ws(self, name: str, ws: aiohttp.ClientWebSocketResponse) -> int | None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.ari_events.append(json.loads(msg.data))
                self.changed.set()
        self.changed.set()
        return ws.close_code

    async def _collect_ami(self, name: str, reader: asyncio.StreamReader) -> None:
        buf = b""
        banner = True
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            if banner and b"\r\n" in buf:  # every connection starts with the one-line banner
                line, _, buf = buf.partition(b"\r\n")
                self.ami_in.append({"Banner": line.decode()})
                banner = False
            while b"\r\n\r\n" in buf:
                block, _, buf = buf.partition(b"\r\n\r\n")
                self.ami_in.append(parse_ami(block.decode() + "\r\n"))
            self.changed.set()
        self.changed.set()

    def _ari_count(self) -> int:
        return sum(1 for e in self.ari_events if ari_key(e, self.ids) is not None)

    def _ami_count(self) -> int:
        return sum(1 for b in self.ami_in if "Banner" in b or ami_key(b) is not None)

    async def _wait_for(self, ari: int, ami: int, within: float = 1.5) -> None:
        deadline = time.monotonic() + within
        while self._ari_count() < ari or self._ami_count() < ami:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return

    # ---------------------------------------------------------------- running
    async def run(self) -> list[Mismatch]:
        d = self.double
        for number, far_end in self.setup.far_ends.items():
            d.program(number, far_end)
        d.missing_sounds.update(self.setup.missing_sounds)
        d.sound_durations.update(self.setup.sound_seconds)
        for name, (members, context) in self.setup.queues.items():
            d.add_queue(name, members, entry_context=context)
        auth = {"Authorization": basic_auth("ccd", "ccdsecret")}
        # One keep-alive connection for REST, as the recorder had (fact 15); websockets apart.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        self.ws_session = aiohttp.ClientSession()
        self.auth = auth
        start = time.monotonic()
        ari_seen = ami_seen = 0
        try:
            for index, step in enumerate(self.t["steps"]):
                kind = step["dir"]
                if kind == "event":
                    if ari_key(step["event"], {}) is not None:
                        ari_seen += 1
                    continue
                if kind == "ami-in":
                    block = parse_ami(step["text"])
                    if step["text"].startswith("Asterisk Call Manager") or \
                            ami_key(block) is not None:
                        ami_seen += 1
                    continue
                if self.restart is None:
                    delay = start + step["t"] * self.pace - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await self._wait_for(ari_seen, ami_seen)
                await self._step(index, step)
            await self._wait_for(ari_seen, ami_seen, within=2.0)
            await asyncio.sleep(0.05)
        finally:
            for ws in self.ws.values():
                await ws.close()
            for _, writer in self.ami.values():
                writer.close()
            await self.session.close()
            await self.ws_session.close()
            if self.restart is not None:
                await self.restart
        self._compare_events()
        self._check_models()
        return self.mismatches

    def _check_answer(self, step: dict[str, Any], status: int, body: Any) -> None:
        """A successful answer is the model Asterisk's schema names for the operation."""
        if not 200 <= status < 300 or body is None:
            return
        try:
            op, _ = self.schema.resolve(step["method"], step["path"].removeprefix("/ari"))
        except RouteError:
            return
        where = f"{step['method']} {step['path']}"
        for problem in self.models.check_answer(body, op.response_class, where):
            self.mismatches.append(Mismatch("answer schema", "valid", problem))

    def _check_models(self) -> None:
        """Every event the double sent is a valid ARI model per Asterisk's events.json."""
        for event in self.ari_events:
            for problem in self.models.problems(event):
                self.mismatches.append(Mismatch("event schema", "valid", problem))

    async def _step(self, index: int, step: dict[str, Any]) -> None:
        kind = step["dir"]
        if kind == "rest":
            await self._rest(index, step)
        elif kind == "ws":
            await self._ws(step)
        elif kind == "ami-out":
            self._ami_out(step)
        elif kind == "local":
            await self._local(step)
        elif kind == "cli" and step["cmd"] in ("core restart now", "core stop now"):
            # 20c: Asterisk's own restart; the recording saw no 503 window.
            self.restart = asyncio.create_task(self.double.restart(down_for=0.0, refuse_for=0.3))
            await asyncio.sleep(0)

    def _sub(self, text: str) -> str:
        for recorded, ours in self.to_double.items():
            text = text.replace(recorded, ours)
        return text

    async def _rest(self, index: int, step: dict[str, Any]) -> None:
        auth = step.get("auth", "")
        headers: dict[str, str] = {}
        if not auth:
            headers.update(self.auth)
        elif auth.startswith("basic "):
            user, _, password = auth[6:].partition(":")
            headers["Authorization"] = basic_auth(user, password)
        query = {k: self._sub(str(v)) for k, v in (step.get("query") or {}).items()}
        url = self.double.ari_url[: -len("/ari")] + self._sub(step["path"])
        body = step.get("body")
        kwargs: dict[str, Any] = {"params": query, "headers": headers}
        if isinstance(body, str):
            kwargs["data"] = body
            headers["Content-Type"] = "application/json"
        elif body is not None:
            kwargs["json"] = body
        fresh = step.get("connection") is not None or step.get("error") is not None
        session = aiohttp.ClientSession() if fresh else self.session
        where = f"step {index} {step['method']} {step['path']}"
        try:
            try:
                async with session.request(step["method"], url, **kwargs) as resp:
                    text = await resp.text()
                    status = resp.status
            except aiohttp.ClientConnectorError:
                if step.get("error") is None:
                    self.mismatches.append(Mismatch(where, step.get("status"), "refused"))
                return
        finally:
            if fresh:
                await session.close()
        if step.get("error") is not None:
            self.mismatches.append(Mismatch(where, "connection refused", status))
            return
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        recorded = step.get("response")
        if isinstance(recorded, dict) and isinstance(parsed, dict) and "id" in recorded \
                and "id" in parsed and step["method"] == "POST" and recorded["id"] != parsed["id"]:
            self.to_double[recorded["id"]] = parsed["id"]
            self.ids[parsed["id"]] = recorded["id"]
        self._check_answer(step, status, parsed)
        if (step["method"], step["path"], query.get("variable", "")) in self.setup.unchecked:
            return
        want = rest_view(step["path"], step["status"], recorded)
        got = rest_view(step["path"], status, parsed)
        if want != got:
            self.mismatches.append(Mismatch(where, want, got))

    async def _ws(self, step: dict[str, Any]) -> None:
        what, name = step["what"], step.get("conn", "ws1")
        if what == "connect":
            await self._ws_connect(name, step)
        elif what == "close-sent":
            ws = self.ws.pop(name)
            await ws.close()
        elif what == "closed":
            task = self.ws_tasks[name]
            code = await asyncio.wait_for(task, 3.0)
            if code != step["close_code"]:
                self.mismatches.append(Mismatch(f"websocket {name} end", step["close_code"], code))

    async def _ws_connect(self, name: str, step: dict[str, Any]) -> None:
        recorded_url = step["url"]
        query = recorded_url.split("?", 1)[1]
        url = f"{self.double.ari_ws_url}?{query}"
        expect = step.get("status")
        if self.restart is not None and expect is not None:
            await self._wait_listening()
            if expect == 101:
                await self.restart
        try:
            ws = await self.ws_session.ws_connect(url)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status != expect:
                self.mismatches.append(Mismatch(f"websocket {name} connect", expect, exc.status))
            return
        except aiohttp.ClientConnectorError:
            if expect is not None:
                self.mismatches.append(Mismatch(f"websocket {name} connect", expect, "refused"))
            return
        if expect != 101:
            self.mismatches.append(Mismatch(f"websocket {name} connect", expect, 101))
        self.ws[name] = ws
        self.ws_tasks[name] = asyncio.create_task(self._collect_ws(name, ws))

    async def _wait_listening(self) -> None:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.double.ari_port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return

    def _ami_out(self, step: dict[str, Any]) -> None:
        text = step["text"]
        names = {norm_name(c.name): c.name for c in self.double.channels.values()}
        text = re.sub(r"(?m)^(Channel: )(\S+)(?=\r?$)",
                      lambda m: m.group(1) + names.get(norm_name(m.group(2)), m.group(2)), text)
        _, writer = self.ami[step.get("conn", "ami1")]
        writer.write(text.encode())

    async def _local(self, step: dict[str, Any]) -> None:
        what = step["what"]
        if what == "tcp-connect":
            reader, writer = await asyncio.open_connection("127.0.0.1", self.double.ami_port)
            self.ami[step["conn"]] = (reader, writer)
            self.ami_tasks[step["conn"]] = asyncio.create_task(
                self._collect_ami(step["conn"], reader))
        elif what == "tcp-closed-by-peer":
            try:
                await asyncio.wait_for(self.ami_tasks[step["conn"]], 3.0)
            except TimeoutError:
                self.mismatches.append(Mismatch(f"AMI {step['conn']}", "closed by Asterisk",
                                                "still open"))
        elif what == "tcp-close":
            _, writer = self.ami.pop(step["conn"])
            writer.close()
        elif what == "sipp-started" and step.get("name") == "caller-uac":
            kwargs = self.setup.inbound.pop(0)
            ours = await self.double.inbound_call(**kwargs)
            recorded = self.inbound_ids.pop(0)
            self.to_double[recorded] = ours
            self.ids[ours] = recorded
        elif what == "run stop-asterisk":
            self.restart = asyncio.create_task(self.double.restart(down_for=0.3, refuse_for=0.3))
            await asyncio.sleep(0)

    # ------------------------------------------------------------- comparing
    def _compare_events(self) -> None:
        recorded_ari = [k for s in self.t["steps"] if s["dir"] == "event"
                        if (k := ari_key(s["event"], {})) is not None]
        double_ari = [k for e in self.ari_events if (k := ari_key(e, self.ids)) is not None]
        if self.setup.events_unchecked is None:
            self._compare_streams("ARI", group(recorded_ari), group(double_ari))
        recorded_ami = [k for s in self.t["steps"] if s["dir"] == "ami-in"
                        if (k := ami_key(parse_ami(s["text"]))) is not None]
        double_ami = [k for b in self.ami_in if "Banner" not in b
                      if (k := ami_key(b)) is not None]
        self._compare_streams("AMI", group(recorded_ami), group(double_ami))
        banners = [s["text"] for s in self.t["steps"] if s["dir"] == "ami-in"
                   and s["text"].startswith("Asterisk Call Manager")]
        ours = [b["Banner"] + "\r\n" for b in self.ami_in if "Banner" in b]
        if banners and banners[:1] != ours[:1]:
            self.mismatches.append(Mismatch("AMI banner", banners[:1], ours[:1]))

    def _compare_streams(self, what: str, recorded: dict[str, list[Key]],
                         ours: dict[str, list[Key]]) -> None:
        for stream in sorted(set(recorded) | set(ours)):
            want, got = recorded.get(stream, []), ours.get(stream, [])
            if want != got:
                self.mismatches.append(Mismatch(f"{what} events of {stream}",
                                                "\n    ".join(map(str, want)),
                                                "\n    ".join(map(str, got))))
