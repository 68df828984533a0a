"""The double's own behaviour: schema checks, auth, far ends, trunk caps, time scale, faults."""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.sim.asterisk.recordings import FORMATS, audio_file
from ccd.sim.asterisk.schema import RESOURCE, AriSchema, ModelSchema, RouteError
from tests.fax.documents import write_tiff
from tests.sim_asterisk.replay import basic_auth

AUTH = {"Authorization": basic_auth("ccd", "ccdsecret")}
MODELS = ModelSchema.load()


class Client:
    """A plain REST + websocket client for poking the double."""

    def __init__(self, double: AsteriskDouble, session: aiohttp.ClientSession) -> None:
        self.double = double
        self.session = session
        self.events: list[dict[str, Any]] = []
        self.invalid: list[str] = []  # events that break Asterisk's own models
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        kwargs.setdefault("headers", AUTH)
        async with self.session.request(method, self.double.ari_url + path, **kwargs) as r:
            text = await r.text()
            return r.status, json.loads(text) if text and r.content_type == "application/json" \
                else text

    async def connect(self, subscribe_all: bool = False) -> None:
        self.ws = await self.session.ws_connect(
            f"{self.double.ari_ws_url}?app=ccd&subscribeAll={str(subscribe_all).lower()}",
            headers=AUTH)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            event = json.loads(msg.data)
            self.events.append(event)
            self.invalid += MODELS.problems(event)
            self._arrived.set()
        self._arrived.set()

    async def wait_for(self, type_: str, channel: str | None = None,
                       within: float = 2.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for e in self.events:
                subject = (e.get("channel") or e.get("peer") or {}).get("id")
                if e["type"] == type_ and channel in (None, subject):
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {type_} for {channel} in {self.types(channel)}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                pass

    def types(self, channel: str | None = None) -> list[str]:
        return [e["type"] for e in self.events
                if channel in (None, (e.get("channel") or e.get("peer") or {}).get("id"))]

    async def originate(self, endpoint: str, channel_id: str, **params: str) -> tuple[int, Any]:
        query = {"endpoint": endpoint, "app": "ccd", "channelId": channel_id, **params}
        return await self.call("POST", "/channels", params=query)


@pytest.fixture
async def client(double: AsteriskDouble) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        c = Client(double, session)
        await c.connect()
        yield c
        if c.ws is not None:
            await c.ws.close()
        assert not c.invalid


# ------------------------------------------------------------------- schema
def test_the_double_routes_by_the_schema_shipped_in_the_package() -> None:
    schema = AriSchema.load()
    assert schema.source == RESOURCE.name == AsteriskDouble().schema.source
    op, args = schema.resolve("POST", "/channels/abc;2/play/pb1")
    assert (op.nickname, args) == ("playWithId", {"channelId": "abc;2", "playbackId": "pb1"})
    assert op.response_class == "Playback"
    assert schema.resolve("POST", "/channels/create")[0].nickname == "create"
    with pytest.raises(RouteError) as missing:
        schema.resolve("GET", "/nosuchresource")
    assert (missing.value.status, missing.value.message) == (404, "Resource not found")
    with pytest.raises(RouteError) as method:
        schema.resolve("PUT", "/channels")
    assert (method.value.status, method.value.message) == (405, "Invalid method")


def test_model_schema_finds_what_is_wrong_with_an_event() -> None:
    problems = MODELS.problems({"type": "ChannelDestroyed", "application": "ccd",
                                "timestamp": "t", "cause": "16", "extra": 1})
    assert problems == ["ChannelDestroyed: missing cause_txt", "ChannelDestroyed: missing channel",
                        "ChannelDestroyed.cause: expected int, got str",
                        "ChannelDestroyed: unknown property extra"]


def test_a_broken_schema_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "channels.json").write_text('{"apis": [')
    with pytest.raises(ValueError, match="channels.json: line 1"):
        AriSchema.load(tmp_path)


async def test_schema_checks_answer_as_asterisk(client: Client) -> None:
    assert await client.call("GET", "/nosuchresource") == (404, {"message": "Resource not found"})
    assert await client.call("GET", "/channels/") == (
        404, {"message": "ARI URLs do not end with a slash. Try /ari/channels"})
    assert await client.call("PUT", "/channels") == (405, {"message": "Invalid method"})
    assert await client.call("POST", "/channels", params={"app": "ccd"}) == (
        400, {"message": "Endpoint must be specified"})
    assert await client.call("POST", "/channels", params={"endpoint": "Local/1@x"}) == (
        400, {"message": "Application or extension must be specified"})
    await client.originate("Local/7001@sim", "c1")
    status, body = await client.call("DELETE", "/channels/c1", params={"reason": "nosuch"})
    assert (status, body) == (400, {"message": "Invalid reason for hangup provided"})
    status, body = await client.call("POST", "/channels/c1/snoop",
                                     params={"app": "ccd", "spy": "sideways"})
    assert status == 400 and "spy" in body["message"]
    assert await client.call("POST", "/channels", data="{\"variables\": ",
                             headers={**AUTH, "Content-Type": "application/json"}) == (
        400, {"message": "Error parsing request body"})
    assert await client.call("POST", "/channels/c1/play") == (
        500, {"message": "Failed to queue media for playback"})


async def test_body_parameters_count_like_query_parameters(client: Client) -> None:
    status, body = await client.call("POST", "/channels", json={
        "endpoint": "Local/7001@sim", "app": "ccd", "channelId": "jb", "appArgs": "x,y",
        "variables": {"A": "1"}})
    assert status == 200 and body["id"] == "jb"
    start = await client.wait_for("StasisStart", "jb")
    assert start["args"] == ["x", "y"]
    assert await client.call("GET", "/channels/jb/variable", params={"variable": "A"}) == (
        200, {"value": "1"})


# --------------------------------------------------------------------- auth
async def test_auth_basic_and_api_key(double: AsteriskDouble) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(double.ari_url + "/asterisk/info") as r:
            assert r.status == 401
            assert await r.json() == {"message": "Authentication required"}
        async with s.get(double.ari_url + "/asterisk/info",
                         headers={"Authorization": basic_auth("ccd", "no")}) as r:
            assert r.status == 401
        async with s.get(double.ari_url + "/asterisk/info",
                         params={"api_key": "ccd:ccdsecret"}) as r:
            assert r.status == 200
            assert (await r.json())["system"]["entity_id"] == double.asterisk_id
        with pytest.raises(aiohttp.WSServerHandshakeError) as bad:
            await s.ws_connect(double.ari_ws_url + "?app=ccd&api_key=ccd:wrong")
        assert bad.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as noapp:
            await s.ws_connect(double.ari_ws_url + "?api_key=ccd:ccdsecret")
        assert noapp.value.status == 400
        async with s.get(double.ari_ws_url.replace("ws:", "http:"),
                         params={"app": "ccd", "api_key": "ccd:ccdsecret"}) as r:
            assert r.status == 426
        ws = await s.ws_connect(double.ari_ws_url + "?app=ccd&api_key=ccd:ccdsecret")
        await ws.close()


# ---------------------------------------------------------------- far ends
async def test_answered_call_sequence_and_records(double: AsteriskDouble, client: Client) -> None:
    double.program("+74951234567", FarEnd.answer(after=1.0, hangup_after=2.0))
    status, body = await client.originate("PJSIP/+74951234567@city-trunk", "a1",
                                          appArgs="outbound,7")
    assert status == 200 and body["state"] == "Down" and body["name"].startswith("PJSIP/city")
    await client.wait_for("ChannelDestroyed", "a1")
    assert client.types("a1") == ["Dial", "ChannelStateChange", "Dial", "ChannelStateChange",
                                  "Dial", "ChannelVarset", "StasisStart", *["ChannelVarset"] * 5,
                                  "ChannelHangupRequest", "StasisEnd", "ChannelVarset",
                                  "ChannelDestroyed"]
    assert [r.status for r in double.requests if r.path == "/ari/channels"] == [200]
    assert "a1" not in double.channels


@pytest.mark.parametrize(("far_end", "cause", "dialstatus", "tech"), [
    (FarEnd.busy(), 17, "BUSY", 486),
    (FarEnd.congestion(), 34, "CONGESTION", 503),
    (FarEnd.unallocated(), 1, "NOANSWER", 404),
    (FarEnd.rejected(after=0.5), 21, "NOANSWER", 603),
])
async def test_unanswered_calls_get_no_stasis(double: AsteriskDouble, client: Client,
                                              far_end: FarEnd, cause: int, dialstatus: str,
                                              tech: int) -> None:
    double.program("555", far_end)
    await client.originate("PJSIP/555@trunk", "u1")
    destroyed = await client.wait_for("ChannelDestroyed", "u1")
    assert (destroyed["cause"], destroyed["tech_cause"]) == (cause, tech)
    dials = [e["dialstatus"] for e in client.events if e["type"] == "Dial"]
    assert dials[-1] == dialstatus
    assert "StasisStart" not in client.types("u1")


async def test_trunk_cap_answers_congestion_beyond_it(double: AsteriskDouble,
                                                      client: Client) -> None:
    double.program("100", FarEnd.answer())
    for i in range(3):
        await client.originate("PJSIP/100@city-trunk", f"t{i}")
    third = await client.wait_for("ChannelDestroyed", "t2")
    assert (third["cause"], third["cause_txt"]) == (34, "Circuit/channel congestion")
    assert {"t0", "t1"} <= set(double.channels)
    await client.call("DELETE", "/channels/t0")
    await client.originate("PJSIP/100@city-trunk", "t3")
    await client.wait_for("StasisStart", "t3")


async def test_time_scale_stretches_far_end_timings(double: AsteriskDouble,
                                                     client: Client) -> None:
    double.program("200", FarEnd.answer(after=10.0))  # 10 s simulated = 0.2 s at 0.02
    started = time.monotonic()
    await client.originate("Local/200@sim", "ts")
    await client.wait_for("StasisStart", "ts")
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 1.0


async def test_originate_timeout_is_scaled(double: AsteriskDouble, client: Client) -> None:
    double.program("300", FarEnd.no_answer())
    started = time.monotonic()
    await client.originate("PJSIP/300@trunk", "nt", timeout="5")
    destroyed = await client.wait_for("ChannelDestroyed", "nt")
    assert (destroyed["cause"], destroyed["tech_cause"]) == (19, 480)
    assert 0.08 <= time.monotonic() - started < 0.8


async def test_agent_phone_answers_at_once_and_stays_up(double: AsteriskDouble,
                                                        client: Client) -> None:
    await client.originate("PJSIP/agent101", "ag", appArgs="agent,101")
    start = await client.wait_for("StasisStart", "ag")
    assert start["args"] == ["agent", "101"]
    assert "RINGING" not in [e.get("dialstatus") for e in client.events]
    await asyncio.sleep(0.2)
    assert "ag" in double.channels
    await double.hangup_far_end("ag", cause=16)
    await client.wait_for("ChannelDestroyed", "ag")
    assert client.types("ag")[-4:] == ["ChannelHangupRequest", "StasisEnd", "ChannelVarset",
                                       "ChannelDestroyed"]


async def test_far_end_hangs_up_while_ringing(double: AsteriskDouble, client: Client) -> None:
    double.program("900", FarEnd.answer(after=30.0))
    await client.originate("Local/900@sim", "fr")
    await client.wait_for("Dial", "fr")
    await double.hangup_far_end("fr", cause=17)
    destroyed = await client.wait_for("ChannelDestroyed", "fr")
    assert destroyed["cause"] == 17
    assert [e["dialstatus"] for e in client.events if e["type"] == "Dial"][-1] == "BUSY"
    assert "StasisStart" not in client.types("fr")


async def test_continue_takes_a_channel_out_of_its_bridge(double: AsteriskDouble,
                                                          client: Client) -> None:
    await client.originate("Local/7001@sim", "cb")
    await client.wait_for("StasisStart", "cb")
    await client.call("POST", "/bridges", params={"bridgeId": "br"})
    await client.call("POST", "/bridges/br/addChannel", params={"channel": "cb"})
    assert (await client.call("POST", "/channels/cb/continue",
                              params={"context": "elsewhere"}))[0] == 204
    await client.wait_for("StasisEnd", "cb")
    assert client.types("cb")[-2:] == ["ChannelLeftBridge", "StasisEnd"]
    assert double.bridges["br"].channels == [] and double.pbx.bridge("br").id == "br"
    assert (await client.call("POST", "/channels/cb/play", params={"media": "sound:x"})) == (
        409, {"message": "Channel not in Stasis application"})


async def test_inbound_call_left_ringing_for_the_app_to_answer(double: AsteriskDouble,
                                                               client: Client) -> None:
    cid = await double.inbound_call(did="100", caller="200", answered=False)
    start = await client.wait_for("StasisStart", cid)
    assert start["channel"]["state"] == "Ring"
    assert (await client.call("POST", f"/channels/{cid}/answer"))[0] == 204
    change = await client.wait_for("ChannelStateChange", cid)
    assert change["channel"]["state"] == "Up"


async def test_unknown_pjsip_endpoint_fails_allocation(client: Client) -> None:
    assert await client.originate("PJSIP/nosuchendpoint", "x1") == (
        500, {"error": "Allocation failed"})
    assert await client.originate("garbage", "x2") == (
        400, {"message": "Invalid endpoint specified"})


async def test_dtmf_from_far_end(double: AsteriskDouble, client: Client) -> None:
    double.program("400", FarEnd.answer(dtmf="12#", dtmf_at=1.0))
    await client.originate("Local/400@sim", "d1")
    await client.wait_for("StasisStart", "d1")
    await asyncio.sleep(0.2)
    digits = [(e["digit"], e["duration_ms"]) for e in client.events
              if e["type"] == "ChannelDtmfReceived"]
    assert digits == [("1", 100), ("2", 100), ("#", 100)]


async def test_tone_detect_only_on_8khz(double: AsteriskDouble, client: Client) -> None:
    double.program("500", FarEnd.fax(tone="CED"))
    for cid, extra in (("f8", {"formats": "ulaw"}), ("fwide", {})):
        await client.originate("Local/500@sim", cid, **extra)
        await client.wait_for("StasisStart", cid)
        assert (await client.call("POST", f"/channels/{cid}/variable",
                                  params={"variable": "TONE_DETECT(2100)", "value": ""}))[0] == 204
    await client.wait_for("ChannelToneDetected", "f8")
    await asyncio.sleep(0.1)
    assert "ChannelToneDetected" not in client.types("fwide")
    assert await client.call("GET", "/channels/f8/variable",
                             params={"variable": "TONE_DETECT(rx)"}) == (200, {"value": "1"})


async def test_amd_context_reenters_stasis(double: AsteriskDouble, client: Client) -> None:
    double.program("600", FarEnd.machine())
    await client.originate("Local/600@sim", "m1")
    await client.wait_for("StasisStart", "m1")
    await client.call("POST", "/channels/m1/continue", params={"context": "ccd-amd"})
    client.events.clear()
    start = await client.wait_for("StasisStart", "m1")
    assert start["args"] == ["amd", "MACHINE", "MAXWORDS-3-2"]


async def test_inbound_call_with_dtmf_and_caller_hangup(double: AsteriskDouble,
                                                        client: Client) -> None:
    cid = await double.inbound_call(did="5550013", caller="+74951112233",
                                    far_end=FarEnd.answer(dtmf="5", dtmf_at=0.5,
                                                          hangup_after=2.0))
    start = await client.wait_for("StasisStart", cid)
    assert start["args"] == ["inbound", "5550013"]
    assert start["channel"]["caller"]["number"] == "+74951112233"
    assert start["channel"]["dialplan"]["app_data"] == "ccd,inbound,5550013"
    await client.wait_for("ChannelDtmfReceived", cid)
    await client.wait_for("StasisEnd", cid)
    await asyncio.sleep(0.05)
    assert "ChannelDestroyed" not in client.types(cid)
    assert cid not in double.channels


async def test_playback_queue_and_stop(client: Client) -> None:
    await client.originate("Local/7001@sim", "p1")
    await client.wait_for("StasisStart", "p1")
    status, first = await client.call("POST", "/channels/p1/play",
                                      params={"media": "sound:hello", "playbackId": "pa"})
    assert (status, first["state"]) == (201, "queued")
    await client.call("POST", "/channels/p1/play", params={"media": "digits:12",
                                                          "playbackId": "pb"})
    assert (await client.call("DELETE", "/playbacks/pa"))[0] == 204
    await client.wait_for("PlaybackFinished")
    finished = [e["playback"]["id"] for e in client.events if e["type"] == "PlaybackFinished"]
    assert finished[0] == "pa"
    await asyncio.sleep(0.1)
    states = [(e["playback"]["id"], e["type"]) for e in client.events
              if e["type"].startswith("Playback")]
    assert states == [("pa", "PlaybackStarted"), ("pa", "PlaybackFinished"),
                      ("pb", "PlaybackStarted"), ("pb", "PlaybackFinished")]
    assert (await client.call("GET", "/playbacks/pb"))[0] == 404


async def test_recording_a_bridge(client: Client) -> None:
    await client.call("POST", "/bridges", params={"bridgeId": "rb"})
    status, live = await client.call("POST", "/bridges/rb/record",
                                     params={"name": "call-1", "format": "wav"})
    assert (status, live["state"], live["target_uri"]) == (201, "queued", "bridge:rb")
    await client.wait_for("RecordingStarted")
    assert (await client.call("POST", "/recordings/live/call-1/stop"))[0] == 204
    await client.wait_for("RecordingFinished")
    assert await client.call("GET", "/recordings/stored") == (
        200, [{"name": "call-1", "format": "wav"}])
    assert (await client.call("DELETE", "/recordings/stored/call-1"))[0] == 204
    assert (await client.call("GET", "/recordings/stored/call-1"))[0] == 404


async def test_a_bridge_recording_runs_until_the_bridge_goes(client: Client) -> None:
    # Asterisk 22 keeps a bridge recording while the bridge lives; destroying it ends the file.
    await client.call("POST", "/bridges", params={"bridgeId": "rb2"})
    await client.call("POST", "/bridges/rb2/record", params={"name": "shift", "format": "wav"})
    await asyncio.sleep(0.3)
    assert (await client.call("GET", "/recordings/live/shift"))[1]["state"] == "recording"
    assert (await client.call("DELETE", "/bridges/rb2"))[0] == 204
    finished = await client.wait_for("RecordingFinished")
    assert finished["recording"]["state"] == "done"
    assert (await client.call("GET", "/recordings/live/shift"))[0] == 404
    assert (await client.call("GET", "/recordings/stored/shift"))[0] == 200


async def test_snoop_and_record_makes_a_real_file_that_ends_with_the_call(
    double: AsteriskDouble, client: Client
) -> None:
    await client.originate("Local/7002@sim", "cust")
    await client.wait_for("StasisStart", "cust")
    await client.call("POST", "/bridges", params={"bridgeId": "agent-1"})
    await client.call("POST", "/bridges/agent-1/addChannel", params={"channel": "cust"})
    # A bridged channel cannot be recorded itself (channels.json, 409): through a snoop.
    status, _ = await client.call("POST", "/channels/cust/record",
                                  params={"name": "direct", "format": "wav"})
    assert status == 409
    assert (await client.call("POST", "/channels/cust/snoop/rec-cust",
                              params={"app": "ccd", "spy": "both"}))[0] == 200
    assert (await client.call("POST", "/channels/rec-cust/record",
                              params={"name": "cust", "format": "mp9"}))[0] == 422
    status, live = await client.call("POST", "/channels/rec-cust/record",
                                     params={"name": "cust", "format": "wav"})
    assert (status, live["state"], live["target_uri"]) == (201, "queued", "channel:rec-cust")
    started = await client.wait_for("RecordingStarted")
    assert started["recording"]["state"] == "recording"
    assert (await client.call("POST", "/channels/rec-cust/record",
                              params={"name": "cust", "format": "wav"}))[0] == 409
    await asyncio.sleep(0.5)
    assert (await client.call("POST", "/recordings/live/cust/pause"))[0] == 204
    assert (await client.call("GET", "/recordings/live/cust"))[1]["state"] == "paused"
    await asyncio.sleep(0.4)
    assert (await client.call("DELETE", "/recordings/live/cust/pause"))[0] == 204
    await asyncio.sleep(0.3)
    # The customer hangs up: the snoop goes with it, the recording finishes first.
    await double.hangup_far_end("cust")
    await client.wait_for("StasisEnd", "rec-cust")
    order = [e["type"] for e in client.events
             if e["type"] == "RecordingFinished"
             or (e["type"] == "StasisEnd" and e["channel"]["id"] == "rec-cust")]
    assert order == ["RecordingFinished", "StasisEnd"]
    finished = next(e for e in client.events if e["type"] == "RecordingFinished")
    assert (finished["recording"]["state"], finished["recording"]["duration"]) == ("done", 0)
    assert (await client.call("POST", "/recordings/live/cust/pause"))[0] == 404
    async with client.session.get(double.ari_url + "/recordings/stored/cust/file",
                                  headers=AUTH) as r:
        assert r.status == 200 and r.content_type == "audio/wav"
        body = await r.read()
    with wave.open(io.BytesIO(body)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        seconds = w.getnframes() / 8000
    assert 0.7 <= seconds <= 1.1, seconds  # 0.5 + 0.3 recorded, the 0.4 s pause left out
    assert (await client.call("GET", "/recordings/stored/gone/file"))[0] == 404


async def test_a_recording_that_cannot_be_written_fails(
    double: AsteriskDouble, client: Client
) -> None:
    await client.originate("Local/7003@sim", "cf")
    await client.wait_for("StasisStart", "cf")
    double.fail_recordings("spool not writable")
    status, live = await client.call("POST", "/channels/cf/record",
                                     params={"name": "cf", "format": "wav"})
    assert (status, live["state"]) == (201, "queued")
    failed = await client.wait_for("RecordingFailed")
    assert (failed["recording"]["state"], failed["recording"]["cause"]) == (
        "failed", "spool not writable")
    assert "RecordingStarted" not in client.types()
    assert (await client.call("GET", "/recordings/stored/cf"))[0] == 404
    double.fail_recordings(None)
    assert (await client.call("POST", "/channels/cf/record",
                              params={"name": "cf", "format": "wav"}))[0] == 201
    await client.wait_for("RecordingStarted")


@pytest.mark.parametrize(("fmt", "per_s", "content_type"), [
    ("gsm", 1650, "audio/x-gsm"), ("ulaw", 8000, "audio/basic"),
])
def test_recording_files_in_compact_formats(fmt: str, per_s: int, content_type: str) -> None:
    data = audio_file(fmt, 2.0)
    assert len(data) == 2 * per_s
    assert FORMATS[fmt][0] == content_type
    if fmt == "gsm":
        assert all(data[i] >> 4 == 0xD for i in range(0, len(data), 33))


async def test_subscribe_all_sees_channel_created(double: AsteriskDouble) -> None:
    async with aiohttp.ClientSession() as session:
        watcher = Client(double, session)
        await watcher.connect(subscribe_all=True)
        await double.inbound_call(did="1", caller="2")
        await watcher.wait_for("ChannelCreated")
        assert watcher.ws is not None
        await watcher.ws.close()


# ------------------------------------------------------------------ faults
async def test_drop_websockets_gives_1006_and_events_are_lost(double: AsteriskDouble,
                                                               client: Client) -> None:
    double.program("700", FarEnd.answer(hangup_after=1.0))
    await client.originate("Local/700@sim", "w1")
    await client.wait_for("StasisStart", "w1")
    await double.drop_websockets()
    assert client._reader is not None
    await asyncio.wait_for(client._reader, 2.0)
    assert client.ws is not None and client.ws.close_code == 1006
    await asyncio.sleep(0.1)
    assert "w1" not in double.channels
    assert "ChannelDestroyed" not in client.types("w1")
    # Stasis() with no app connected fails: an originated channel is gone at once (18).
    await client.originate("Local/7001@sim", "w2")
    await asyncio.sleep(0.02)
    assert (await client.call("GET", "/channels/w2"))[0] == 404


async def test_restart(double: AsteriskDouble, client: Client) -> None:
    await client.originate("Local/7001@sim", "r1")
    await client.wait_for("StasisStart", "r1")
    old_id = double.asterisk_id
    restart = asyncio.create_task(double.restart(down_for=0.3))
    await asyncio.sleep(0.05)
    assert await client.call("GET", "/asterisk/ping") == (503, {"message": "Asterisk not booted"})
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as booting:
            await s.ws_connect(double.ari_ws_url + "?app=ccd", headers=AUTH)
        assert booting.value.status == 503
    await restart
    assert client.ws is not None and client.ws.close_code == 1006
    hangup = [e for e in client.events if e["type"] == "ChannelHangupRequest"][0]
    assert (hangup["cause"], hangup["soft"]) == (4, True)
    destroyed = await client.wait_for("ChannelDestroyed", "r1")
    assert destroyed["cause"] == 0
    assert double.asterisk_id != old_id
    assert await client.call("GET", "/channels") == (200, [])


async def test_restart_refuses_connections_first(double: AsteriskDouble) -> None:
    restart = asyncio.create_task(double.restart(down_for=0.1, refuse_for=0.2))
    await asyncio.sleep(0.05)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", double.ari_port)
    await restart
    async with aiohttp.ClientSession() as s:
        async with s.get(double.ari_url + "/asterisk/ping", headers=AUTH) as r:
            assert r.status == 200


async def test_delay_and_fail_rest(double: AsteriskDouble, client: Client) -> None:
    double.fail_rest("/channels", status=500, count=2)
    assert (await client.call("GET", "/channels"))[0] == 500
    assert (await client.call("GET", "/channels/x"))[0] == 500
    assert (await client.call("GET", "/channels"))[0] == 200
    double.delay_rest(0.2)
    started = time.monotonic()
    await client.call("GET", "/asterisk/ping")
    assert time.monotonic() - started >= 0.2
    double.delay_rest(0)


async def test_leaky_409_on_a_keep_alive_connection(double: AsteriskDouble,
                                                    client: Client) -> None:
    """Fact 15: after a duplicate-id 409, an allocation failure on the same connection is 409."""
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as s:
        c = Client(double, s)
        await c.originate("Local/7001@sim", "dup")
        assert (await c.originate("Local/7001@sim", "dup"))[0] == 409
        assert (await c.originate("Nosuchtech/1", "n1"))[0] == 409
    async with aiohttp.ClientSession() as s:
        assert (await Client(double, s).originate("Nosuchtech/1", "n2"))[0] == 500


# --------------------------------------------------------------------- AMI
async def ami_session(double: AsteriskDouble) -> tuple[asyncio.StreamReader,
                                                       asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(double.ami_host, double.ami_port)
    assert await reader.readline() == b"Asterisk Call Manager/11.0.0\r\n"
    writer.write(b"Action: Login\r\nUsername: ccd\r\nSecret: ccdsecret\r\nActionID: l\r\n\r\n")
    assert b"Authentication accepted" in await reader.readuntil(b"\r\n\r\n")
    return reader, writer


async def read_until(reader: asyncio.StreamReader, needle: bytes) -> list[str]:
    blocks = []
    while True:
        block = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)).decode()
        blocks.append(block)
        if needle.decode() in block:
            return blocks


async def test_ami_originate_and_event_lists(double: AsteriskDouble) -> None:
    double.program("800", FarEnd.answer())
    reader, writer = await ami_session(double)
    writer.write(b"Action: Originate\r\nActionID: o1\r\nChannel: Local/800@sim\r\n"
                 b"Application: Wait\r\nData: 100\r\nAsync: true\r\n\r\n")
    blocks = await read_until(reader, b"Event: OriginateResponse")
    replies = [b for b in blocks if "ActionID: o1" in b]
    assert "Message: Originate successfully queued" in replies[0]
    assert "Reason: 4" in blocks[-1] and "ActionID: o1" in blocks[-1]
    writer.write(b"Action: CoreShowChannels\r\nActionID: c1\r\n\r\n")
    blocks = await read_until(reader, b"CoreShowChannelsComplete")
    assert "EventList: start" in blocks[0] and "ListItems: 2" in blocks[-1]
    assert sum("Event: CoreShowChannel\r\nActionID: c1" in b for b in blocks) == 2
    name = [b for b in blocks if "CoreShowChannel\r" in b][0].split("Channel: ")[1].split("\r")[0]
    writer.write(f"Action: Hangup\r\nActionID: h1\r\nChannel: {name}\r\nCause: 16\r\n\r\n"
                 .encode())
    blocks = await read_until(reader, b"Cause-txt: Normal Clearing")
    assert "Message: Channel Hungup" in "".join(blocks)
    double.add_queue("support", ["PJSIP/agent1"])
    writer.write(b"Action: QueueStatus\r\nActionID: q1\r\n\r\n")
    blocks = await read_until(reader, b"QueueStatusComplete")
    assert "ListItems: 2" in blocks[-1] and any("QueueMember" in b for b in blocks)
    writer.write(b"Action: Command\r\nActionID: x1\r\nCommand: core show version\r\n\r\n")
    blocks = await read_until(reader, b"ActionID: x1")
    assert "Message: Command output follows\r\nOutput: Asterisk 22.10.1" in blocks[-1]
    writer.write(b"Action: Logoff\r\n\r\n")
    assert "Thanks for all the fish." in (await read_until(reader, b"Goodbye"))[-1]
    assert await reader.read() == b""
    assert double.ami_action_counts["Originate"] == 1


async def test_ami_originate_response_without_context(double: AsteriskDouble) -> None:
    """Exten without Context: Asterisk reads the missing header as "", and says so."""
    double.program("801", FarEnd.busy())
    reader, writer = await ami_session(double)
    writer.write(b"Action: Originate\r\nActionID: o2\r\nChannel: Local/801@sim\r\n"
                 b"Exten: 100\r\nAsync: true\r\n\r\n")
    response = (await read_until(reader, b"Event: OriginateResponse"))[-1]
    assert "Response: Failure\r\n" in response
    assert "\r\nContext: \r\nExten: 100\r\n" in response
    writer.close()


async def test_ami_half_open_stops_answering(double: AsteriskDouble) -> None:
    reader, writer = await ami_session(double)
    await read_until(reader, b"SuccessfulAuth")
    double.ami_half_open()
    writer.write(b"Action: Ping\r\nActionID: p\r\n\r\n")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.2)
    assert not writer.is_closing()
    writer.close()


# ------------------------------------------------------------------- SendFAX ([ccd-fax])
def _varsets(client: Client, channel: str) -> list[tuple[str, str]]:
    return [(e["variable"], e["value"]) for e in client.events
            if e["type"] == "ChannelVarset" and e["channel"]["id"] == channel
            and e["variable"].startswith("FAX")]  # fmt: skip


def _steps(client: Client, channel: str) -> list[str]:
    """The channel's event types, a varset named by its variable."""
    return [e["variable"] if e["type"] == "ChannelVarset" else e["type"]
            for e in client.events if (e.get("channel") or {}).get("id") == channel]  # fmt: skip


async def _send_fax(client: Client, number: str, channel: str, document: Path) -> None:
    await client.call("POST", "/channels", params={
        "endpoint": f"PJSIP/{number}@trunk", "app": "ccd", "channelId": channel,
    }, json={"variables": {"CCD_FAX_FILE": str(document)}})  # fmt: skip
    await client.wait_for("StasisStart", channel)
    status, _ = await client.call("POST", f"/channels/{channel}/continue",
                                  params={"context": "ccd-fax", "extension": "s"})  # fmt: skip
    assert status == 204


async def test_sendfax_sets_res_fax_variables_then_the_dialplan_hangs_up(
    double: AsteriskDouble, client: Client, tmp_path: Path
) -> None:
    document = write_tiff(tmp_path / "doc.tif", 2)
    double.program("700", FarEnd.fax(tone="CED"))
    await _send_fax(client, "700", "fx1", document)
    await client.wait_for("ChannelDestroyed", "fx1", within=5)
    assert _varsets(client, "fx1") == [
        ("FAXSTATUS", "SUCCESS"), ("FAXSTATUSSTRING", "OK"), ("FAXBITRATE", "14400"),
        ("FAXRESOLUTION", "8040x7700"), ("FAXMODE", "audio"), ("FAXPAGES", "2"),
    ]  # fmt: skip
    steps = _steps(client, "fx1")  # out of Stasis, the results, then Hangup() ends the call
    assert steps.index("StasisEnd") < steps.index("FAXSTATUS") < steps.index("FAXPAGES")
    assert steps.index("FAXPAGES") < steps.index("ChannelHangupRequest")
    assert steps[-1] == "ChannelDestroyed" and steps.count("StasisStart") == 1
    destroyed = await client.wait_for("ChannelDestroyed", "fx1")
    assert destroyed["cause"] == 16

    double.program("701", FarEnd.fax(error="Disconnected after permitted retries", pages=1))
    await _send_fax(client, "701", "fx2", document)
    await client.wait_for("ChannelDestroyed", "fx2", within=5)
    assert _varsets(client, "fx2")[:3] == [
        ("FAXSTATUS", "FAILED"), ("FAXERROR", "Disconnected after permitted retries"),
        ("FAXSTATUSSTRING", "Disconnected after permitted retries"),
    ]  # fmt: skip
    assert _varsets(client, "fx2")[-1] == ("FAXPAGES", "1")


async def test_sendfax_on_a_person_or_a_missing_file_fails_as_res_fax_does(
    double: AsteriskDouble, client: Client, tmp_path: Path
) -> None:
    document = write_tiff(tmp_path / "doc.tif", 1)
    double.program("702", FarEnd.answer(hangup_after=3))  # a person: hello?, then hangs up
    await _send_fax(client, "702", "fx3", document)
    await client.wait_for("ChannelDestroyed", "fx3", within=5)
    assert _varsets(client, "fx3")[:3] == [
        ("FAXSTATUS", "FAILED"), ("FAXERROR", "HANGUP"),
        ("FAXSTATUSSTRING", "remote channel hungup"),
    ]  # fmt: skip
    steps = _steps(client, "fx3")  # the far end's BYE first, then res_fax gives up
    assert steps.index("ChannelHangupRequest") < steps.index("FAXSTATUS")

    double.program("703", FarEnd.fax(tone="CED"))
    await _send_fax(client, "703", "fx4", tmp_path / "missing.tif")
    await client.wait_for("ChannelDestroyed", "fx4", within=5)
    assert _varsets(client, "fx4") == [
        ("FAXERROR", "FILE_ERROR"), ("FAXSTATUSSTRING", "error reading file"),
        ("FAXSTATUS", "FAILED"),
    ]  # fmt: skip
