"""Inbound calls from the dialplan (recorded in transcripts 13 and 13b) as domain events."""

from __future__ import annotations

from ccd.config import AsteriskNode
from ccd.telephony.ari_pbx import AriPbx
from ccd.telephony.pbx import (
    CallEnded,
    CallEntered,
    DtmfReceived,
    Outcome,
    PbxEvent,
    PlaybackFinished,
)
from tests.telephony.ari_replay import ReplayAri, call_events, events_of, originated_ids
from tests.telephony.waiting import eventually


class Recorder:
    def __init__(self) -> None:
        self.events: list[PbxEvent] = []

    async def on_pbx_event(self, event: PbxEvent) -> None:
        self.events.append(event)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        pass


def _inbound_id(transcript: str) -> str:
    return next(
        e["channel"]["id"]
        for e in events_of(transcript)
        if e["type"] == "StasisStart" and e["args"][:1] == ["inbound"]
    )


async def _replay_inbound(replay: ReplayAri, transcript: str) -> list[PbxEvent]:
    pbx = AriPbx([AsteriskNode(name="pbx1", ari_url=replay.url, ari_password="ccdsecret")])
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        rec_id = _inbound_id(transcript)
        for event in call_events(transcript, rec_id, rec_id):
            await replay.send(event)
        await eventually(lambda: any(isinstance(e, CallEnded) for e in rec.events))
        await pbx.drain()
    finally:
        await pbx.close()
    return rec.events


async def test_inbound_enters_with_args_and_ends_at_stasis_end(replay: ReplayAri) -> None:
    events = await _replay_inbound(replay, "13-inbound-stasis-continue")
    entered = events[0]
    assert isinstance(entered, CallEntered)
    assert entered.args == ("inbound", "5551234")
    assert (entered.caller_number, entered.did) == ("5551234", "5550013")
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert len(ended) == 1 and ended[0].call_id == entered.call_id
    assert ended[0].outcome is Outcome.ANSWERED and ended[0].answered
    assert isinstance(events[-1], CallEnded)


async def test_caller_hangup_during_playback(replay: ReplayAri) -> None:
    events = await _replay_inbound(replay, "13b-inbound-caller-hangup")
    finished = [e for e in events if isinstance(e, PlaybackFinished)]
    assert [f.ok for f in finished] == [False]  # "failed" when the caller hangs up
    assert sum(isinstance(e, CallEnded) for e in events) == 1
    assert not any(isinstance(e, DtmfReceived) for e in events)


async def test_far_end_dtmf_digits_in_order(replay: ReplayAri) -> None:
    transcript = "08-dtmf"
    endpoint, rec_id = originated_ids(transcript)[0]
    replay.program(endpoint, transcript, rec_id)
    pbx = AriPbx([AsteriskNode(name="pbx1", ari_url=replay.url, ari_password="ccdsecret")])
    rec = Recorder()
    pbx.set_handler(rec)
    await pbx.start()
    try:
        await pbx.originate("dtmf-1", endpoint, caller_id="x", timeout_s=30)
        await eventually(lambda: any(isinstance(e, CallEnded) for e in rec.events))
        await pbx.drain()
    finally:
        await pbx.close()
    digits = "".join(e.digit for e in rec.events if isinstance(e, DtmfReceived))
    assert digits == "1234#"
