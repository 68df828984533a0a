"""The cause table, from the recorded Asterisk 22 calls (transcripts 01, 03..07b, 14b, 15)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from ccd.config import AsteriskNode
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.causes import RULES, CallFacts, Outcome, classify, outcome_of
from ccd.telephony.pbx import (
    AmdResult,
    CallAnswered,
    CallEnded,
    CallRinging,
    PbxEvent,
    ToneDetected,
)
from tests.telephony.ari_replay import ReplayAri, originated_ids

_ids = itertools.count()


class Recorder:
    def __init__(self) -> None:
        self.events: list[PbxEvent] = []
        self.reconnects: list[tuple[str, frozenset[str]]] = []
        self.ended = asyncio.Event()

    async def on_pbx_event(self, event: PbxEvent) -> None:
        self.events.append(event)
        if isinstance(event, CallEnded):
            self.ended.set()

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        self.reconnects.append((node, live_call_ids))


async def _run_call(
    replay: ReplayAri, transcript: str, index: int = 0, **originate_kw: bool
) -> list[PbxEvent]:
    endpoint, rec_id = originated_ids(transcript)[index]
    replay.program(endpoint, transcript, rec_id)
    pbx = AriPbx([AsteriskNode(name="pbx1", ari_url=replay.url, ari_password="ccdsecret")])
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    call_id = f"att-{next(_ids)}"
    try:
        await pbx.originate(
            call_id,
            endpoint,
            caller_id='"CCD" <5550100>',
            timeout_s=30,
            variables={"CCD_ATTEMPT": "42"},
            **originate_kw,
        )
        await asyncio.wait_for(rec.ended.wait(), 5)
        await pbx.drain()
    finally:
        await pbx.close()
    assert all(getattr(e, "call_id", call_id) == call_id for e in rec.events)
    return rec.events


def _ended(events: list[PbxEvent]) -> CallEnded:
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert len(ended) == 1, events
    return ended[0]


@pytest.mark.parametrize(
    ("transcript", "outcome", "cause", "sip", "dial_status"),
    [
        ("03-busy-local-17", Outcome.BUSY, 17, None, "BUSY"),
        ("03b-busy-sip-486", Outcome.BUSY, 17, 486, "BUSY"),
        ("04-congestion-local-34", Outcome.CONGESTION, 34, None, "CONGESTION"),
        ("04b-congestion-sip-503", Outcome.CONGESTION, 34, 503, "CONGESTION"),
        ("05-noanswer-local-timeout", Outcome.NO_ANSWER, 19, None, "RINGING"),
        ("05b-noanswer-sip-180", Outcome.NO_ANSWER, 19, 480, "RINGING"),
        ("06-unallocated-local-1", Outcome.BAD_NUMBER, 1, None, "NOANSWER"),
        ("06b-unallocated-sip-404", Outcome.BAD_NUMBER, 1, 404, "NOANSWER"),
        ("07-rejected-local-21", Outcome.REJECTED, 21, None, "NOANSWER"),
        ("07b-rejected-sip-603", Outcome.REJECTED, 21, 603, "NOANSWER"),
        ("01-originate-answered-farend-hangup", Outcome.ANSWERED, 16, None, "ANSWER"),
    ],
)
async def test_recorded_call_maps_to_outcome(
    replay: ReplayAri,
    transcript: str,
    outcome: Outcome,
    cause: int,
    sip: int | None,
    dial_status: str,
) -> None:
    events = await _run_call(replay, transcript)
    ended = _ended(events)
    assert (ended.outcome, ended.cause, ended.sip_code, ended.dial_status) == (
        outcome,
        cause,
        sip,
        dial_status,
    )
    assert ended.answered is (outcome is Outcome.ANSWERED)
    assert any(isinstance(e, CallAnswered) for e in events) is ended.answered
    assert isinstance(events[-1], CallEnded)


async def test_no_answer_reports_ringing_first(replay: ReplayAri) -> None:
    events = await _run_call(replay, "05-noanswer-local-timeout")
    assert [type(e) for e in events] == [CallRinging, CallEnded]


async def test_amd_human_is_answered_and_continues_into_amd_context(replay: ReplayAri) -> None:
    events = await _run_call(replay, "14b-amd-app-continue", 0, amd=True)
    amd = [e for e in events if isinstance(e, AmdResult)]
    assert [(a.status, a.cause) for a in amd] == [("HUMAN", "HUMAN-800-800")]
    assert _ended(events).outcome is Outcome.ANSWERED
    cont = [r for r in replay.requests if r[1].endswith("/continue")]
    assert [r[2] for r in cont] == [{"context": "ccd-amd", "extension": "s", "priority": "1"}]


async def test_amd_machine(replay: ReplayAri) -> None:
    events = await _run_call(replay, "14b-amd-app-continue", 1, amd=True)
    assert [e.status for e in events if isinstance(e, AmdResult)] == ["MACHINE"]
    assert _ended(events).outcome is Outcome.MACHINE


@pytest.mark.parametrize("index", [0, 1])
async def test_fax_tone_gives_fax(replay: ReplayAri, index: int) -> None:
    events = await _run_call(replay, "15-fax-tone-detect", index, tone_detect=True)
    assert len([e for e in events if isinstance(e, ToneDetected)]) == 1  # CNG fires twice
    assert _ended(events).outcome is Outcome.FAX
    originate = next(r for r in replay.requests if r[1] == "/channels" and r[0] == "POST")
    assert originate[2]["formats"] == "ulaw"
    tone = [r for r in replay.requests if r[1].endswith("/variable")]
    assert tone[0][2] == {"variable": "TONE_DETECT(2100)", "value": ""}


def test_busy_indication_with_cause_0_uses_dial_status() -> None:
    # 32-ami-originate-failures: Local Busy() ends with Cause 0; the Dial status is BUSY.
    assert outcome_of(CallFacts(cause=0, dial_status="BUSY")) is Outcome.BUSY
    assert outcome_of(CallFacts(cause=0, dial_status="CONGESTION")) is Outcome.CONGESTION
    assert outcome_of(CallFacts(cause=None, dial_status="BUSY")) is Outcome.BUSY


def test_answered_call_ended_by_shutdown_is_answered() -> None:
    # 20-asterisk-restart: an answered channel is destroyed with cause 0.
    assert outcome_of(CallFacts(cause=0, answered=True, dial_status="ANSWER")) is Outcome.ANSWERED


def test_media_findings_win_over_answer() -> None:
    assert outcome_of(CallFacts(cause=16, answered=True, tone="fax")) is Outcome.FAX
    assert outcome_of(CallFacts(cause=16, answered=True, amd_status="MACHINE")) is Outcome.MACHINE
    assert outcome_of(CallFacts(cause=16, answered=True, amd_status="NOTSURE")) is Outcome.ANSWERED


def test_sip_code_alone_and_nothing_at_all() -> None:
    assert outcome_of(CallFacts(sip_code=486)) is Outcome.BUSY
    assert outcome_of(CallFacts(sip_code=404)) is Outcome.BAD_NUMBER
    assert classify(CallFacts()) == (Outcome.FAILED, "no rule matched")


def test_every_rule_is_grounded_and_reachable() -> None:
    assert all(rule.grounds for rule in RULES)
    assert len({rule.name for rule in RULES}) == len(RULES)
