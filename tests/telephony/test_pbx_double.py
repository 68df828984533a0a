"""AriPbx and AmiClient against the Asterisk 22 protocol double (ccd.sim.asterisk)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from ccd.config import AsteriskNode
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.telephony.ami import AmiClient
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.errors import AriAuthError, PbxTimeout, PbxUnavailable
from ccd.telephony.pbx import (
    AmdResult,
    CallAnswered,
    CallBridged,
    CallEnded,
    CallRinging,
    CallUnbridged,
    DtmfReceived,
    LinkStatus,
    Outcome,
    PbxEvent,
    PlaybackFinished,
    ToneDetected,
)
from tests.telephony.waiting import eventually

_ids = itertools.count()


class Recorder:
    def __init__(self) -> None:
        self.events: list[PbxEvent] = []
        self.reconnects: list[tuple[str, frozenset[str]]] = []

    async def on_pbx_event(self, event: PbxEvent) -> None:
        self.events.append(event)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        self.reconnects.append((node, live_call_ids))

    def of(self, call_id: str) -> list[PbxEvent]:
        return [e for e in self.events if getattr(e, "call_id", None) == call_id]

    def ended(self, call_id: str) -> list[CallEnded]:
        return [e for e in self.of(call_id) if isinstance(e, CallEnded)]


@pytest.fixture
async def double() -> AsyncIterator[AsteriskDouble]:
    d = AsteriskDouble(time_scale=0.01, node="pbx1")
    await d.start()
    yield d
    await d.stop()


def _node(double: AsteriskDouble, **kw: str) -> AsteriskNode:
    fields = {
        "name": "pbx1",
        "ari_url": double.ari_url,
        "ari_password": "ccdsecret",
        "ami_host": double.ami_host,
        "ami_port": double.ami_port,
        "ami_secret": "ccdsecret",
    }
    fields.update(kw)
    return AsteriskNode(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def pbx(double: AsteriskDouble) -> AsyncIterator[tuple[AriPbx, Recorder]]:
    p = AriPbx([_node(double)], backoff_initial_s=0.05, backoff_max_s=0.5)
    rec = Recorder()
    p.set_handler(rec)
    await p.start()
    yield p, rec
    await p.close()


def _call_id() -> str:
    return f"att-{next(_ids)}"


async def _place(pbx: AriPbx, rec: Recorder, endpoint: str, **kw: bool) -> tuple[str, CallEnded]:
    call_id = _call_id()
    await pbx.originate(
        call_id,
        endpoint,
        caller_id='"CCD" <5550100>',
        timeout_s=30,
        variables={"CCD_ATTEMPT": call_id},
        **kw,
    )
    await eventually(lambda: bool(rec.ended(call_id)))
    await pbx.drain()
    ended = rec.ended(call_id)
    assert len(ended) == 1
    return call_id, ended[0]


@pytest.mark.parametrize(
    ("far_end", "tech", "outcome", "cause", "sip"),
    [
        (FarEnd.busy(), "pjsip", Outcome.BUSY, 17, 486),
        (FarEnd.busy(sip=None), "local", Outcome.BUSY, 17, None),
        (FarEnd.congestion(), "pjsip", Outcome.CONGESTION, 34, 503),
        (FarEnd.unallocated(), "pjsip", Outcome.BAD_NUMBER, 1, 404),
        (FarEnd.unallocated(sip=None), "local", Outcome.BAD_NUMBER, 1, None),
        (FarEnd.rejected(), "pjsip", Outcome.REJECTED, 21, 603),
        (FarEnd.no_answer(), "pjsip", Outcome.NO_ANSWER, 19, 480),
        (FarEnd.answer(after=1.0, hangup_after=5.0), "pjsip", Outcome.ANSWERED, 16, None),
    ],
)
async def test_far_end_behaviour_maps_to_outcome(
    double: AsteriskDouble,
    pbx: tuple[AriPbx, Recorder],
    far_end: FarEnd,
    tech: str,
    outcome: Outcome,
    cause: int,
    sip: int | None,
) -> None:
    p, rec = pbx
    number = f"7495{next(_ids):07d}"
    double.program(number, far_end)
    endpoint = f"PJSIP/{number}@trunk" if tech == "pjsip" else f"Local/{number}@sim-pstn"
    call_id, ended = await _place(p, rec, endpoint)
    assert (ended.outcome, ended.cause, ended.sip_code) == (outcome, cause, sip)
    kinds = [type(e) for e in rec.of(call_id)]
    assert (CallAnswered in kinds) is (outcome is Outcome.ANSWERED)
    assert kinds[-1] is CallEnded


async def test_no_answer_rings_first(double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]) -> None:
    p, rec = pbx
    double.program("74950000001", FarEnd.no_answer())
    call_id, ended = await _place(p, rec, "PJSIP/74950000001@trunk")
    assert [type(e) for e in rec.of(call_id)] == [CallRinging, CallEnded]
    assert ended.dial_status == "RINGING"


async def test_answer_then_far_end_dtmf(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000002", FarEnd.answer(hangup_after=5.0, dtmf="12#", dtmf_at=1.0))
    call_id, ended = await _place(p, rec, "PJSIP/74950000002@trunk")
    assert "".join(e.digit for e in rec.of(call_id) if isinstance(e, DtmfReceived)) == "12#"
    assert ended.outcome is Outcome.ANSWERED


async def test_fax_tone_detected() -> None:
    # Time scale 0.1: the double's first detector hit comes 0.94 s (94 ms) after answer, as in
    # transcript 15; at 0.01 it would race the TONE_DETECT request itself.
    double = AsteriskDouble(time_scale=0.1, node="pbx1")
    await double.start()
    p = AriPbx([_node(double)])
    rec = Recorder()
    p.set_handler(rec)
    await p.start()
    try:
        double.program("74950000003", FarEnd.fax(tone="CED", hangup_after=3.0))
        call_id, ended = await _place(p, rec, "PJSIP/74950000003@trunk", tone_detect=True)
    finally:
        await p.close()
        await double.stop()
    assert [e.tone for e in rec.of(call_id) if isinstance(e, ToneDetected)] == ["fax"]
    assert ended.outcome is Outcome.FAX


@pytest.mark.parametrize(
    ("far_end", "status", "outcome"),
    [
        (FarEnd.machine(hangup_after=10.0), "MACHINE", Outcome.MACHINE),
        (FarEnd.human(hangup_after=10.0), "HUMAN", Outcome.ANSWERED),
    ],
)
async def test_amd(
    double: AsteriskDouble,
    pbx: tuple[AriPbx, Recorder],
    far_end: FarEnd,
    status: str,
    outcome: Outcome,
) -> None:
    p, rec = pbx
    number = f"7495{next(_ids):07d}"
    double.program(number, far_end)
    call_id, ended = await _place(p, rec, f"PJSIP/{number}@trunk", amd=True)
    assert [e.status for e in rec.of(call_id) if isinstance(e, AmdResult)] == [status]
    assert ended.outcome is outcome


async def test_duplicate_originate_is_idempotent(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000004", FarEnd.answer(hangup_after=3.0))
    call_id = _call_id()
    for _ in range(2):
        await p.originate(call_id, "PJSIP/74950000004@trunk", caller_id="x", timeout_s=30)
    await eventually(lambda: bool(rec.ended(call_id)))
    await p.drain()
    posts = [r for r in double.requests if r.method == "POST" and r.path.endswith("/channels")]
    assert [r.status for r in posts if r.query.get("channelId") == call_id] == [200, 409]
    assert len(rec.ended(call_id)) == 1


async def test_reconnect_after_dropped_websocket_resyncs(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000005", FarEnd.answer())  # stays up
    call_id = _call_id()
    await p.originate(call_id, "PJSIP/74950000005@trunk", caller_id="x", timeout_s=30)
    await eventually(lambda: any(isinstance(e, CallAnswered) for e in rec.of(call_id)))
    before = len(rec.reconnects)
    await double.drop_websockets()
    async with asyncio.timeout(5):
        await eventually(lambda: len(rec.reconnects) > before)
    assert rec.reconnects[-1] == ("pbx1", frozenset({call_id}))
    assert p.link_status()["pbx1"] is LinkStatus.CONNECTED
    # The call still works after the reconnect, and ends once.
    await p.hangup(call_id)
    await eventually(lambda: bool(rec.ended(call_id)))
    assert len(rec.ended(call_id)) == 1


async def test_asterisk_restart_ends_live_calls_once(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000006", FarEnd.answer())
    call_id = _call_id()
    await p.originate(call_id, "PJSIP/74950000006@trunk", caller_id="x", timeout_s=30)
    await eventually(lambda: any(isinstance(e, CallAnswered) for e in rec.of(call_id)))
    before = len(rec.reconnects)
    await double.restart(down_for=0.3)
    await eventually(lambda: len(rec.reconnects) > before, timeout_s=10)
    await eventually(lambda: bool(rec.ended(call_id)))
    await p.drain()
    assert rec.reconnects[-1] == ("pbx1", frozenset())
    [ended] = rec.ended(call_id)
    assert ended.outcome is Outcome.ANSWERED
    assert ended.shutdown  # the soft cause-4 hangup request came first (20b, 20c)


async def test_a_far_end_hangup_is_not_a_shutdown(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000016", FarEnd.answer(hangup_after=0.2))
    call_id = _call_id()
    await p.originate(call_id, "PJSIP/74950000016@trunk", caller_id="x", timeout_s=30)
    await eventually(lambda: bool(rec.ended(call_id)))
    [ended] = rec.ended(call_id)
    assert (ended.outcome, ended.cause, ended.shutdown) == (Outcome.ANSWERED, 16, False)


async def test_bad_ari_password_names_the_node(double: AsteriskDouble) -> None:
    p = AriPbx([_node(double, name="pbx-west", ari_password="wrong")])
    p.set_handler(Recorder())
    with pytest.raises(AriAuthError, match="pbx-west.*401"):
        await p.start()


async def test_ami_originate_sent_once_across_reconnect(double: AsteriskDouble) -> None:
    double.program("74950000007", FarEnd.no_answer())
    client = AmiClient(
        _node(double),
        ping_interval_s=0.1,
        ping_timeout_s=0.2,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    await client.start()
    try:
        pending = asyncio.ensure_future(
            client.originate("PJSIP/74950000007@trunk", application="Wait", data="3", timeout_s=30)
        )
        await eventually(lambda: double.ami_action_counts["Originate"] == 1)
        double.ami_half_open()
        with pytest.raises(PbxUnavailable, match="may have run"):
            await asyncio.wait_for(pending, 5)
        assert client.status is not LinkStatus.CONNECTED  # the watchdog dropped it
        await asyncio.sleep(0.5)
        assert double.ami_action_counts["Originate"] == 1
    finally:
        await client.close()


async def test_originate_timeout_then_retry_places_one_call(double: AsteriskDouble) -> None:
    p = AriPbx([_node(double)], rest_timeout_s=0.2)
    rec = Recorder()
    p.set_handler(rec)
    await p.start()
    try:
        double.program("74950000008", FarEnd.answer(hangup_after=3.0))
        call_id = _call_id()
        double.delay_rest(0.5)
        with pytest.raises(PbxTimeout):
            await p.originate(call_id, "PJSIP/74950000008@trunk", caller_id="x", timeout_s=30)
        double.delay_rest(0)
        await p.originate(call_id, "PJSIP/74950000008@trunk", caller_id="x", timeout_s=30)
        await eventually(lambda: bool(rec.ended(call_id)))
        await p.drain()
    finally:
        await p.close()
    assert len(rec.ended(call_id)) == 1
    created = [
        r
        for r in double.requests
        if r.method == "POST" and r.path.endswith("/channels") and r.status == 200
    ]
    assert len(created) == 1


async def test_bridge_snoop_and_playback(
    double: AsteriskDouble, pbx: tuple[AriPbx, Recorder]
) -> None:
    p, rec = pbx
    double.program("74950000009", FarEnd.answer())
    customer, agent, spy = _call_id(), _call_id(), _call_id()
    await p.originate(customer, "PJSIP/74950000009@trunk", caller_id="x", timeout_s=30)
    await p.originate(agent, "PJSIP/agent001", caller_id="x", timeout_s=30)
    for call_id in (customer, agent):
        await eventually(lambda c=call_id: any(isinstance(e, CallAnswered) for e in rec.of(c)))
    playback = await p.play(customer, ["sound:hello-world"])
    await eventually(
        lambda: any(
            isinstance(e, PlaybackFinished) and e.playback_id == playback for e in rec.events
        )
    )
    await p.create_bridge("agent-1")
    await p.create_bridge("agent-1")  # idempotent
    await p.add_to_bridge("agent-1", [customer, agent])
    await eventually(lambda: sum(isinstance(e, CallBridged) for e in rec.events) == 2)
    await p.snoop(customer, spy, spy="both", whisper="out")
    await p.hangup(customer)
    await eventually(lambda: bool(rec.ended(customer)) and bool(rec.ended(spy)))
    assert any(isinstance(e, CallUnbridged) for e in rec.of(customer))
    await p.hangup(agent)
    await p.destroy_bridge("agent-1")
    await p.destroy_bridge("agent-1")  # already gone: not an error
    await eventually(lambda: bool(rec.ended(agent)))
    await p.drain()
    for call_id in (customer, agent, spy):
        assert len(rec.ended(call_id)) == 1
    assert rec.ended(customer)[0].outcome is Outcome.ANSWERED
