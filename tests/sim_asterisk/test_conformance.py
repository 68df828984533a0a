"""The double against every recorded Asterisk 22.10.1 scenario (tests/fixtures/asterisk-22)."""

from __future__ import annotations

import pytest

from ccd.sim.asterisk import AsteriskDouble, FarEnd
from tests.asterisk22 import transcript, transcript_names
from tests.sim_asterisk.conftest import SCALE
from tests.sim_asterisk.replay import Runner, Setup

ECHO = {"7001": FarEnd.answer(), "7002": FarEnd.answer(), "7003": FarEnd.answer()}
# sim-pstn 100X: Answer, Wait(1), Playback(~2.4 s), Wait(1), Hangup(16) -> up for ~5.95 s
ANSWER_5S = FarEnd.answer(hangup_after=5.95)
INBOUND = {"did": "5550013", "caller": "5551234", "caller_name": "Alice Caller",
           "args": ["inbound", "5551234"]}  # the recording's dialplan passes ${CALLERID(num)}
PROBE = ("[ccd-ws-probe] runs Stasis(ccd,probe) then Set(GLOBAL(...)=${STASISSTATUS}); "
         "the double does not model that test-only context")

SETUPS: dict[str, Setup] = {
    "01-originate-answered-farend-hangup": Setup({"1001": ANSWER_5S}),
    "02-app-hangup-delete": Setup({"1001": ANSWER_5S}),
    "03-busy-local-17": Setup({"2001": FarEnd.busy()}),
    "03b-busy-sip-486": Setup({"5553003": FarEnd.busy(sip=486)}),
    "04-congestion-local-34": Setup({"3001": FarEnd.congestion()}),
    "04b-congestion-sip-503": Setup({"5553004": FarEnd.congestion(sip=503)}),
    "05-noanswer-local-timeout": Setup({"4001": FarEnd.no_answer()}),
    "05b-noanswer-sip-180": Setup({"5553005": FarEnd.no_answer()}),
    "06-unallocated-local-1": Setup({"6001": FarEnd.unallocated()}),
    "06b-unallocated-sip-404": Setup({"5553006": FarEnd.unallocated(sip=404)}),
    "07-rejected-local-21": Setup({"9001": FarEnd.rejected(after=2.0)}),
    "07b-rejected-sip-603": Setup({"5553007": FarEnd.rejected(sip=603, after=0.0)}),
    "08-dtmf": Setup({"5001": FarEnd.answer(dtmf="1234#", dtmf_at=1.7, hangup_after=6.36)}),
    "09-mixing-bridge": Setup(ECHO),
    "10-holding-bridge-moh": Setup(ECHO),
    "11-playback": Setup(ECHO, missing_sounds={"no-such-sound-file"},
                         sound_seconds={"tt-monkeys": 30.0}),
    "12-snoop": Setup(ECHO),
    "13-inbound-stasis-continue": Setup(inbound=[INBOUND]),
    "13b-inbound-caller-hangup": Setup(
        inbound=[{**INBOUND, "far_end": FarEnd.answer(hangup_after=3.5)}],
        sound_seconds={"tt-monkeys": 30.0}),
    "14-amd-originate-context": Setup({"1201": FarEnd.human(), "1301": FarEnd.machine()}),
    "14b-amd-app-continue": Setup({"1202": FarEnd.human(), "1302": FarEnd.machine()}),
    "15-fax-tone-detect": Setup({"1401": FarEnd.fax(tone="CNG"), "1501": FarEnd.fax(tone="CED"),
                                 "1502": FarEnd.fax(tone="CED")}),
    "16-errors": Setup(ECHO),
    "17-lists": Setup(ECHO, unchecked={("GET", "/ari/asterisk/variable", "ASTETCDIR"):
                                       "the recording has the install prefix redacted"}),
    "18-websocket-loss": Setup(
        {**ECHO, "1111": FarEnd.answer(hangup_after=1.0), "1001": ANSWER_5S},
        unchecked={("GET", "/ari/asterisk/variable", "CCD_PROBE_STASISSTATUS"): PROBE}),
    "19-bridge-farend-hangup-order": Setup({**ECHO, "1101": FarEnd.answer(hangup_after=4.5)}),
    "19b-bridge-farend-hangup-sip": Setup(
        {**ECHO, "5553019": FarEnd.answer(after=0.001, hangup_after=4.0)}),  # 180, then 200
    "20-asterisk-restart": Setup(
        ECHO, events_unchecked="20 and 20b record the shutdown hangups of ;1 and ;2 in two "
                               "different orders; the double produces 20b's, which 20c shows "
                               "too (checked there)"),
    "20b-asterisk-restart-repeat": Setup(ECHO),
    # The agent phone (sipp UAS) rings, then answers.
    "20c-asterisk-restart-bridged": Setup({**ECHO, "agent1": FarEnd.answer(after=0.001)}),
    "30-ami-login": Setup(),
    "31-ami-originate-answered": Setup({"1001": ANSWER_5S}),
    "32-ami-originate-failures": Setup({
        "2001": FarEnd.busy(), "6001": FarEnd.unallocated(),
        "2101": FarEnd.busy(indication=True), "3001": FarEnd.congestion(),
        "4001": FarEnd.no_answer()}),
    "33-ami-coreshowchannels": Setup(ECHO),
    "34-ami-queue": Setup(queues={"ccd-queue": (["PJSIP/agent1,0,Agent1"], "queue-in")}),
    "35-ami-events-ari-call": Setup({"1001": ANSWER_5S}),
}
NAMES = transcript_names()


def test_every_transcript_is_mapped() -> None:
    assert "20c-asterisk-restart-bridged" in NAMES
    assert set(NAMES) == set(SETUPS)


@pytest.mark.parametrize("name", NAMES)
async def test_transcript(name: str) -> None:
    double = AsteriskDouble(time_scale=SCALE)
    await double.start()
    try:
        mismatches = await Runner(double, transcript(name), SETUPS[name], pace=SCALE).run()
    finally:
        await double.stop()
    assert not mismatches, "\n".join(map(str, mismatches))


async def test_replay_catches_a_wrong_far_end() -> None:
    """The comparison can fail: busy recorded, congestion programmed."""
    double = AsteriskDouble(time_scale=SCALE)
    await double.start()
    try:
        busy = transcript("03-busy-local-17")
        mismatches = await Runner(double, busy, Setup({"2001": FarEnd.congestion()}),
                                  pace=SCALE).run()
    finally:
        await double.stop()
    text = "\n".join(map(str, mismatches))
    assert "CONGESTION" in text and "BUSY" in text
