"""The simulated PBX: channel life cycles, Stasis, dialplan contexts and snoops.

Event sequences follow the recordings in tests/fixtures/asterisk-22 (numbers in comments name
the file). Every event goes through EventHub.emit, which decides who sees it: the ARI app only for
channels it is subscribed to, AMI for everything.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ccd.sim.asterisk import sendfax
from ccd.sim.asterisk.bridges import Bridges
from ccd.sim.asterisk.errors import AriError
from ccd.sim.asterisk.events import EventHub
from ccd.sim.asterisk.farend import FAILURES, TONES, FarEnd
from ccd.sim.asterisk.media import Media
from ccd.sim.asterisk.model import CAUSE_TEXT, EIGHT_KHZ, Bridge, Channel
from ccd.sim.asterisk.queues import QUEUE_JOIN, Queues
from ccd.sim.asterisk.recordings import Recordings

# AMD() result per far end, and how long it takes (seconds after AMD starts), fact 13.
AMD_RESULTS: dict[str, tuple[str, float]] = {
    "HUMAN": ("HUMAN-800-800", 1.95),
    "MACHINE": ("MAXWORDS-3-2", 1.67),
    "NOTSURE": ("TOOLONG-5000", 5.0),
}
AMD_CONTEXT = "ccd-amd"
DEFAULT_GLOBALS = {"ASTETCDIR": "/etc/asterisk"}
DIALPLAN_RUN = 1.0  # nominal seconds a non-Stasis dialplan context runs before it hangs up
DTMF_SPACING = 0.35  # SendDTMF(...,250): one digit every ~0.35 s (08)
# Fax tones (15): CNG is 1100 Hz for 0.5 s every 3.5 s, CED 2100 Hz for 4 s; TONE_DETECT reports a
# burst ~0.94 s after the tone (or the detector, if set later) starts.
TONE_DETECT_DELAY = 0.94
TONE_BURSTS = {"CNG": (0.5, 3.5), "CED": (4.0, None)}  # (burst length, period)
# Variables a PJSIP channel reports when its RTP ends (13b, 19b), with quiet-call values.
QOS_VARS = {
    "RTPAUDIOQOS": "ssrc=0;themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                   "txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000",
    "RTPAUDIOQOSJITTER": "minrxjitter=000.000000;maxrxjitter=000.000000;avgrxjitter=000.000000;"
                         "stdevrxjitter=000.000000;mintxjitter=000.000000;"
                         "maxtxjitter=000.000000;avgtxjitter=000.000000;stdevtxjitter=000.000000;",
    "RTPAUDIOQOSLOSS": "minrxlost=000.000000;maxrxlost=000.000000;avgrxlost=000.000000;"
                       "stdevrxlost=000.000000;mintxlost=000.000000;maxtxlost=000.000000;"
                       "avgtxlost=000.000000;stdevtxlost=000.000000;",
    "RTPAUDIOQOSRTT": "minrtt=000.000000;maxrtt=000.000000;avgrtt=000.000000;"
                      "stdevrtt=000.000000;",
    "RTPAUDIOQOSMES": "minrxmes=000.000000;maxrxmes=000.000000;avgrxmes=000.000000;"
                      "stdevrxmes=000.000000;mintxmes=000.000000;maxtxmes=000.000000;"
                      "avgtxmes=000.000000;stdevtxmes=000.000000;",
}
# Result callback of an AMI originate: (channel, answered, reason)
OriginateResult = Callable[[Channel, bool, int], None]


@dataclass(slots=True)
class DialTarget:
    tech: str  # "Local" | "PJSIP"
    number: str  # what far ends are keyed by
    where: str  # Local context, PJSIP endpoint of the trunk, or "" for a bare PJSIP endpoint
    dialstring: str


def parse_caller_id(value: str | None) -> tuple[str, str]:
    """'"CCD Test" <5550100>' -> ("CCD Test", "5550100"); '5550100' -> ("", "5550100")."""
    if not value:
        return ("", "")
    value = value.strip()
    if "<" in value and value.endswith(">"):
        name, number = value[:-1].split("<", 1)
        return (name.strip().strip('"'), number.strip())
    return ("", value)


class Pbx:
    def __init__(self, hub: EventHub, *, time_scale: float, trunk_caps: dict[str, int],
                 agent_prefix: str = "agent") -> None:
        self.hub = hub
        self.time_scale = time_scale
        self.trunk_caps = dict(trunk_caps)
        self.agent_prefix = agent_prefix
        self.far_ends: dict[str, FarEnd] = {}
        self.default_far_end = FarEnd.no_answer()
        self.channels: dict[str, Channel] = {}
        self.bridges = Bridges(self)
        self.global_vars: dict[str, str] = dict(DEFAULT_GLOBALS)
        self.trunk_load: dict[str, int] = {}
        self.media = Media(self)
        self.queues = Queues(self)
        self.recordings = Recordings(
            lambda type_, rec, to_app: hub.emit(type_, {"recording": rec}, to_app=to_app)
        )
        self._seq = itertools.count()
        self._pjsip_seq = itertools.count()
        self._snoop_seq = itertools.count()
        self._uid = itertools.count()
        self._boot = int(time.time())

    # ----------------------------------------------------------------- helpers
    def scale(self, seconds: float) -> float:
        return seconds * self.time_scale

    def later(self, ch: Channel, seconds: float, fn: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        ch.timers.append(loop.call_later(self.scale(seconds), fn, *args))

    def uniqueid(self) -> str:
        return f"{self._boot}.{next(self._uid)}"

    def get(self, channel_id: str) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise AriError(404, "Channel not found")
        return ch

    def bridge(self, bridge_id: str) -> Bridge:
        """A live bridge by id (404 "Bridge not found" otherwise)."""
        return self.bridges.get(bridge_id)

    def control(self, channel_id: str) -> Channel:
        """A channel the app may command: it must be in Stasis (16)."""
        ch = self.get(channel_id)
        if not ch.in_stasis:
            raise AriError(409, "Channel not in Stasis application")
        return ch

    def register(self, ch: Channel) -> None:
        # Fact 2: no ChannelCreated for the app; subscribeAll listeners and AMI see it.
        self.channels[ch.id] = ch
        self.hub.emit("ChannelCreated", channel=ch, to_app=False)

    def varset(self, ch: Channel, name: str, value: str) -> None:
        ch.variables[name] = value
        self.hub.emit("ChannelVarset", {"variable": name, "value": value}, channel=ch)

    def set_state(self, ch: Channel, state: str) -> None:
        ch.state = state
        self.hub.emit("ChannelStateChange", channel=ch)

    def dial_event(self, ch: Channel, status: str, caller: Channel | None = None) -> None:
        self.hub.emit("Dial", {"dialstatus": status, "forward": "", "dialstring": ch.dialstring},
                      peer=ch, caller=caller)

    def _hangup_request(self, ch: Channel, cause: int | None, soft: bool = False,
                        tech_cause: int | None = None) -> None:
        fields: dict[str, Any] = {}
        if cause is not None:
            fields["cause"] = cause
        if soft:
            fields["soft"] = True
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        self.hub.emit("ChannelHangupRequest", fields, channel=ch)
        if not soft and ch.queue is not None:
            self.queues.abandon(ch)  # Queue() returns: the caller leaves the queue (34)

    def _destroy(self, ch: Channel, cause: int, tech_cause: int | None = None) -> None:
        if not ch.alive:
            return
        fields: dict[str, Any] = {"cause": cause, "cause_txt": CAUSE_TEXT.get(cause, "Unknown")}
        if tech_cause is not None:
            fields["tech_cause"] = tech_cause
        self.recordings.target_gone(f"channel:{ch.id}")
        ch.alive = False
        ch.cancel_timers()
        self.channels.pop(ch.id, None)
        if ch.trunk is not None:
            self.trunk_load[ch.trunk] -= 1
        self.hub.emit("ChannelDestroyed", fields, channel=ch)

    # --------------------------------------------------------------- originate
    def parse_endpoint(self, endpoint: str) -> DialTarget:
        if "/" not in endpoint:
            raise AriError(400, "Invalid endpoint specified")
        tech, rest = endpoint.split("/", 1)
        number, _, where = rest.partition("@")
        if tech == "Local":
            return DialTarget("Local", number, where or "default", f"{number}@{where or 'default'}")
        if tech == "PJSIP":
            if where:
                return DialTarget("PJSIP", number, where, rest)
            if number.startswith(self.agent_prefix) or number in self.trunk_caps:
                return DialTarget("PJSIP", number, "", number)
        raise AriError(500, "Allocation failed", key="error")

    def originate(self, endpoint: str, *, app: str | None = None, app_args: str = "",
                  channel_id: str | None = None, other_id: str | None = None,
                  caller_id: str | None = None, timeout: float = 30.0,
                  context: str | None = None, exten: str | None = None,
                  variables: dict[str, str] | None = None, formats: str | None = None,
                  origin: str = "ari", on_result: OriginateResult | None = None,
                  ami_app: tuple[str, str] | None = None) -> tuple[Channel, dict[str, Any]]:
        """Create the channel(s) and start dialing. Returns the channel and its JSON as it was
        when created (the originate response)."""
        target = self.parse_endpoint(endpoint)
        cid = channel_id or self.uniqueid()
        for wanted in (cid, other_id):
            if wanted and wanted in self.channels:
                raise AriError(409, "Channel with given unique ID already exists")
        caller = parse_caller_id(caller_id)
        seq = next(self._seq)
        agent = target.tech == "PJSIP" and not target.where
        if target.tech == "Local":
            name = f"Local/{target.number}@{target.where}-{seq:08x}"
            ch = Channel(cid, f"{name};1", "Local", "Down", target.where, target.number,
                         app_name="AppDial2", app_data="(Outgoing Line)", caller=caller,
                         connected=caller)
            half2_id = other_id or (f"{cid};2" if origin == "ari" else self.uniqueid())
            ch.peer = Channel(half2_id, f"{name};2", "Local", "Ring", target.where,
                              target.number, origin="local2", peer=ch)
        else:
            endpoint_name = target.number if agent else target.where
            pj = next(self._pjsip_seq)
            ch = Channel(cid, f"PJSIP/{endpoint_name}-{pj:08x}", "PJSIP", "Down",
                         "from-agent" if agent else "from-trunk", "s", app_name="AppDial2",
                         app_data="(Outgoing Line)", caller=caller, connected=caller,
                         protocol_id=str(uuid.uuid4()))
        ch.uniqueid = cid
        # Without app= the channel reaches Stasis (if ever) from the dialplan (14).
        ch.origin = "dialplan" if origin == "ari" and app is None else origin
        ch.dialstring = target.dialstring
        ch.app_args = app_args
        ch.ami_app = ami_app
        ch.variables.update(variables or {})
        ch.eight_khz = target.tech == "PJSIP" or bool(
            formats and set(formats.split(",")) <= EIGHT_KHZ)
        ch.subscribed = app is not None
        if ch.peer is not None:
            ch.peer.subscribed = ch.subscribed
            ch.peer.uniqueid = ch.peer.id
        queue = self.queues.for_context(target.where) if target.tech == "Local" else None
        ch.far_end = self.far_ends.get(target.number) or (
            FarEnd.answer() if agent or queue else self.default_far_end)
        trunk = target.where  # a PJSIP trunk endpoint, or the Local context standing for one
        cap = self.trunk_caps.get(trunk)
        if cap is not None:
            ch.trunk = trunk
            load = self.trunk_load.get(trunk, 0)
            self.trunk_load[trunk] = load + 1
            if load >= cap:
                ch.far_end = FarEnd.congestion()
        self.register(ch)
        if ch.peer is not None:
            self.register(ch.peer)
        created = ch.json()
        self._dial_start(ch, timeout, context, exten, on_result)
        return ch, created

    def _dial_start(self, ch: Channel, timeout: float, context: str | None, exten: str | None,
                    on_result: OriginateResult | None) -> None:
        if ch.peer is not None:  # 01: the ;2 half inherits variables and caller id
            for name, value in ch.variables.items():
                self.varset(ch.peer, name, value)
            if ch.caller != ("", ""):
                ch.peer.caller = ch.peer.connected = ch.caller
                self.hub.emit("ChannelCallerId", {
                    "caller_presentation": 0,
                    "caller_presentation_txt": "Presentation Allowed, Not Screened",
                }, channel=ch.peer)
                self.hub.emit("ChannelConnectedLine", channel=ch.peer)
        ch.on_result = on_result
        self.dial_event(ch, "")
        far = ch.far_end
        assert far is not None
        limit = timeout if timeout > 0 else None
        outcome_at = far.after if far.kind != "no_answer" else None
        if outcome_at is not None and outcome_at > 0 or far.kind == "no_answer":
            self.set_state(ch, "Ringing")
            self.dial_event(ch, "RINGING")
        if limit is not None and (outcome_at is None or outcome_at >= limit):
            self.later(ch, limit, self._ring_timeout, ch, on_result)
            return
        assert outcome_at is not None
        if far.answers:
            step: Callable[[], None] = partial(self._answer, ch, context, exten, on_result)
        else:
            step = partial(self._fail, ch, far, on_result)
        if outcome_at > 0:
            self.later(ch, outcome_at, step)
        else:
            step()

    def _answer(self, ch: Channel, context: str | None, exten: str | None,
                on_result: OriginateResult | None) -> None:
        ch.answered = True
        if ch.peer is not None:
            self.set_state(ch.peer, "Up")
            ch.peer.answered = True
        self.set_state(ch, "Up")
        self.dial_event(ch, "ANSWER")
        if on_result is not None:
            on_result(ch, True, 4)
        queue = self.queues.for_context(ch.context) if ch.peer is not None else None
        if queue is not None and ch.peer is not None:  # the ;2 half runs Queue()
            self.later(ch.peer, QUEUE_JOIN, self.queues.join, queue, ch.peer)
        self._far_end_after_answer(ch)
        if context:
            self.run_context(ch, context, exten or "s")
        elif ch.origin == "ari":
            args = ch.app_args.split(",") if ch.app_args else []
            self.enter_stasis(ch, args)
        elif ch.ami_app is not None:
            app, data = ch.ami_app
            ch.app_name, ch.app_data = app, data
            if app.lower() == "wait":  # 31: the application ends before the far end -> cause 0
                self.later(ch, float(data or 0), self.hangup, ch, 0, "dialplan")

    def _fail(self, ch: Channel, far: FarEnd, on_result: OriginateResult | None) -> None:
        cause, dialstatus = FAILURES[far.kind]
        self._reject(ch, cause, dialstatus, far.sip, far.indication, on_result)

    def _reject(self, ch: Channel, cause: int, dialstatus: str, sip: int | None,
                indication: bool, on_result: OriginateResult | None) -> None:
        """The far end ends an unanswered call: no StasisStart ever (fact 3)."""
        if ch.peer is not None and indication:  # 32: Busy() -> Reason 5, cause 0 on ;1
            self.set_state(ch.peer, "Busy")
            self.dial_event(ch, dialstatus)
            self._hangup_request(ch.peer, 0)
            self._hangup_request(ch.peer, 16, soft=True)
            if on_result is not None:
                on_result(ch, False, 5)
            self._destroy(ch, 0)
            self._destroy(ch.peer, cause)
            return
        if ch.peer is not None:  # 03/04/06/07: the Local far end runs Hangup(cause)
            self._hangup_request(ch.peer, 16, soft=True)
            self._hangup_request(ch, cause)
            self._destroy(ch.peer, cause)
            self.dial_event(ch, dialstatus)
            if on_result is not None:
                on_result(ch, False, 0)
            self._destroy(ch, cause)
            return
        tech = sip  # 03b/04b/06b/07b
        self._hangup_request(ch, cause, tech_cause=tech)
        self.dial_event(ch, dialstatus)
        if on_result is not None:
            on_result(ch, False, {17: 5, 34: 8}.get(cause, 1))
        self._destroy(ch, cause, tech)

    def _ring_timeout(self, ch: Channel, on_result: OriginateResult | None) -> None:
        if ch.peer is not None:  # 05: HangupRequest only on ;2, no final Dial
            self._hangup_request(ch.peer, 19)
            if on_result is not None:
                on_result(ch, False, 3)
            self._destroy(ch, 19)
            self._hangup_request(ch.peer, 16, soft=True)
            self._destroy(ch.peer, 19)
            return
        if on_result is not None:  # 05b: no HangupRequest at all
            on_result(ch, False, 3)
        self._destroy(ch, 19, 480)

    def _far_end_after_answer(self, ch: Channel) -> None:
        far = ch.far_end
        assert far is not None
        if far.hangup_after is not None:
            self.later(ch, far.hangup_after, self.hangup_far_end, ch, far.hangup_cause)
        if far.dtmf:
            self._schedule_dtmf(ch, far.dtmf, far.dtmf_at)
        if far.tone:
            self._tone_burst(ch, far.tone)

    def _schedule_dtmf(self, ch: Channel, digits: str, start: float) -> None:
        for i, digit in enumerate(digits):
            self.later(ch, start + i * DTMF_SPACING, self._dtmf, ch, digit)

    def _dtmf(self, ch: Channel, digit: str) -> None:
        self.hub.emit("ChannelDtmfReceived", {"digit": digit, "duration_ms": 100}, channel=ch)

    def _tone_burst(self, ch: Channel, tone: str) -> None:
        length, period = TONE_BURSTS[tone]
        ch.tone_freq = TONES[tone]
        ch.tone_until = time.monotonic() + self.scale(length)
        self.arm_tone_detect(ch)
        if period is not None:
            self.later(ch, period, self._tone_burst, ch, tone)

    def arm_tone_detect(self, ch: Channel) -> None:
        """Called when a burst starts and when TONE_DETECT is set: a detector listening for the
        sounding tone reports it once per burst."""
        if (ch.tone_freq in ch.tone_detect and not ch.tone_pending
                and time.monotonic() < ch.tone_until):
            ch.tone_pending = True
            self.later(ch, TONE_DETECT_DELAY, self._tone_hit, ch)

    def _tone_hit(self, ch: Channel) -> None:
        ch.tone_pending = False
        if ch.eight_khz:  # 15: never on wideband (slin192) Local channels
            ch.tone_hits += 1
            self.hub.emit("ChannelToneDetected", channel=ch)

    # ------------------------------------------------------------------ stasis
    def enter_stasis(self, ch: Channel, args: list[str]) -> None:
        if not self.hub.app_connected():
            # 18: Stasis() returns at once with STASISSTATUS=FAILED and the dialplan goes on.
            ch.variables["STASISSTATUS"] = "FAILED"
            self.global_vars.setdefault("LAST_STASISSTATUS", "FAILED")
            self.hangup(ch, 16, "dialplan")
            return
        if ch.subscribed:
            self.varset(ch, "STASISSTATUS", "")
        ch.subscribed = True
        ch.in_stasis = True
        ch.stasis_entries += 1
        ch.stasis_args = args
        ch.app_name = "Stasis"
        ch.app_data = ",".join([self.hub.app, *args])
        self.hub.emit("StasisStart", {"args": args}, channel=ch)

    def _stasis_end(self, ch: Channel) -> None:
        """Leave Stasis: StasisEnd, and a dialplan-entered channel is then unsubscribed (fact 4)."""
        if not ch.in_stasis:
            return
        ch.in_stasis = False
        self.hub.emit("StasisEnd", channel=ch)
        if ch.origin != "ari":
            ch.subscribed = False

    def continue_in_dialplan(self, ch: Channel, context: str | None, exten: str | None) -> None:
        if ch.bridge is not None:
            self.bridges.leave(ch, hangup=False)
        self._stasis_end(ch)
        self.run_context(ch, context or ch.context, exten or "s")

    def run_context(self, ch: Channel, context: str, exten: str) -> None:
        ch.context, ch.exten, ch.priority = context, exten, 1
        if context == AMD_CONTEXT:
            far = ch.far_end or FarEnd.answer()
            cause, delay = AMD_RESULTS[far.amd]
            self.later(ch, delay, self._amd_done, ch, far.amd, cause)
        elif context == sendfax.FAX_CONTEXT:
            ch.faxing = True
            fax = sendfax.run(ch.far_end or FarEnd.answer(), ch.variables)
            self.later(ch, fax.seconds, self._fax_done, ch, fax)
        else:
            self.later(ch, DIALPLAN_RUN, self.hangup, ch, 16, "dialplan")

    def _amd_done(self, ch: Channel, status: str, cause: str) -> None:
        # 14/14b: Stasis(ccd,amd,${AMDSTATUS},${AMDCAUSE})
        self.varset(ch, "AMDSTATUS", status)
        self.varset(ch, "AMDCAUSE", cause)
        ch.priority = 4
        self.enter_stasis(ch, ["amd", status, cause])

    def _fax_done(self, ch: Channel, fax: sendfax.FaxRun) -> None:
        ch.faxing = False
        for name, value in fax.variables:
            self.varset(ch, name, value)
        # SendFAX returned -1 (a file it cannot read): the call ends there; else Hangup().
        ch.priority = 5 if fax.fail_hangup else 7
        self.hangup(ch, 16, "dialplan")

    def _fax_cut(self, ch: Channel) -> None:
        """The call is hung up during SendFAX(): res_fax reports the transfer as failed."""
        if ch.faxing:
            ch.faxing = False
            for name, value in sendfax.hangup_vars(ch.variables):
                self.varset(ch, name, value)

    # ----------------------------------------------------------------- inbound
    def inbound_call(self, did: str, caller: str, far_end: FarEnd, *, caller_name: str = "",
                     trunk: str = "trunk", args: list[str] | None = None,
                     answered: bool = True) -> Channel:
        uid = self.uniqueid()
        pj = next(self._pjsip_seq)
        ch = Channel(uid, f"PJSIP/{trunk}-{pj:08x}", "PJSIP", "Up" if answered else "Ring",
                     "from-trunk", did, priority=3, caller=(caller_name, caller),
                     protocol_id=f"{pj + 1}-{uid}@127.0.0.1", origin="dialplan", far_end=far_end)
        ch.uniqueid = uid
        ch.answered = answered
        ch.eight_khz = True
        if trunk in self.trunk_caps:
            ch.trunk = trunk
            self.trunk_load[trunk] = self.trunk_load.get(trunk, 0) + 1
        self.register(ch)
        self.enter_stasis(ch, args if args is not None else ["inbound", did])
        if not ch.alive:
            return ch
        if far_end.dtmf:
            self._schedule_dtmf(ch, far_end.dtmf, far_end.dtmf_at)
        if far_end.hangup_after is not None:
            self.later(ch, far_end.hangup_after, self.hangup_far_end, ch, far_end.hangup_cause)
        return ch

    def answer(self, ch: Channel) -> None:
        if ch.state != "Up":
            ch.answered = True
            self.set_state(ch, "Up")

    # ----------------------------------------------------------------- hangups
    def hangup(self, ch: Channel, cause: int, how: str = "app") -> None:
        """how: "app" (DELETE, 02), "dialplan" (the channel's own dialplan ends), "ami" (the AMI
        Hangup action)."""
        if not ch.alive:
            return
        if ch.tech == "Snoop":
            self._end_snoop(ch, explicit=True)
            return
        peer = ch.peer
        if ch.origin == "local2" and peer is not None:
            # Hanging up the ;2 half is, for the originated ;1, its far end hanging up.
            self.hangup_far_end(peer, cause)
            return
        if how == "ami" or (how == "dialplan" and ch.ami_app is not None):
            # 31/33: AMI Hangup, or an AMI originate's application ending: the request shows
            # on the ;2 half only.
            self._leave_call(ch, hangup=True)
            if peer is not None:
                self._hangup_request(peer, cause)
            self._end_snoops(ch)
            self._destroy(ch, cause)
            if peer is not None:
                self._hangup_request(peer, 16, soft=True)
                self._destroy(peer, cause)
            return
        soft = {"app": 32, "dialplan": 16}[how]
        self._hangup_request(ch, soft, soft=True)
        self._fax_cut(ch)
        self._leave_call(ch, hangup=True)
        if not ch.answered:
            self.dial_event(ch, "CANCEL")
        if peer is not None:
            self._hangup_request(peer, cause)
        self._end_snoops(ch)
        self._destroy(ch, cause)
        if peer is not None:
            self._hangup_request(peer, 16, soft=True)
            self._destroy(peer, cause)

    def hangup_far_end(self, ch: Channel, cause: int = 16) -> None:
        """The far end (callee, or the caller of an inbound call) hangs up."""
        if not ch.alive:
            return
        if ch.origin == "local2" and ch.peer is not None:
            ch = ch.peer
        if not ch.answered and ch.origin != "dialplan":
            status = {17: "BUSY", 34: "CONGESTION"}.get(cause, "NOANSWER")
            self._reject(ch, cause, status, None, False, ch.on_result)
            return
        peer = ch.peer
        if peer is not None:  # 01/19: Local far end runs Hangup(cause)
            self._hangup_request(peer, 16, soft=True)
            self._hangup_request(ch, cause)
            self._destroy(peer, cause)
        else:  # 13b/19b: SIP BYE, RTP QoS variables first, HangupRequest without a cause
            other = self.bridges.peer_of(ch)
            for name, value in QOS_VARS.items():
                self.varset(ch, name, value)
                if other is not None:
                    self.varset(other, f"{name}BRIDGED", value)
            self._hangup_request(ch, None)
        self._fax_cut(ch)
        self._leave_call(ch, hangup=True)
        self._end_snoops(ch)
        self._destroy(ch, cause)

    def _leave_call(self, ch: Channel, hangup: bool) -> None:
        if hangup:  # its recording ends (RecordingFinished) before it leaves Stasis
            self.recordings.target_gone(f"channel:{ch.id}")
        self.media.fail_all(ch)
        if ch.bridge is not None:
            self.bridges.leave(ch, hangup=hangup)
        if ch.in_stasis:
            entries = ch.stasis_entries
            self._stasis_end(ch)
            for _ in range(entries):  # 14b: one STASISSTATUS per Stasis() the channel ran
                self.varset(ch, "STASISSTATUS", "SUCCESS")

    def on_queue_exit(self, caller: Channel, legs: list[Channel]) -> None:
        for leg in legs:
            self._destroy(leg, 0)

    def shutdown(self) -> None:
        """`core restart now` / `core stop now` (20b, 20c): every channel first gets a soft
        hangup request with cause 4, then each ends as its state dictates (`_shutdown_end`);
        bridges are gone."""
        live = [ch for ch in self.channels.values() if ch.alive and ch.origin != "local2"]
        for ch in live:
            self._hangup_request(ch, 4, soft=True)
            if ch.peer is not None:
                self._hangup_request(ch.peer, 4, soft=True)
        for ch in live:
            self._shutdown_end(ch)
        self.reset()

    def reset(self) -> None:
        """Nothing survives (after a shutdown's hangups, or at once when Asterisk is killed)."""
        for ch in list(self.channels.values()):
            ch.cancel_timers()
        self.channels.clear()
        for bridge in self.bridges.by_id.values():
            self.media.stop_target(bridge.playbacks)
            self.recordings.target_gone(f"bridge:{bridge.id}")
        self.bridges.by_id.clear()
        self.trunk_load.clear()
        for queue in self.queues.by_name.values():
            queue.entries.clear()
            queue.ringing.clear()

    def _shutdown_end(self, ch: Channel) -> None:
        """20c: a ringing channel gets Dial NOANSWER and cause 0; an answered one leaves its
        bridge and Stasis, and ends with cause 16 when it was bridged, else 0."""
        if not ch.alive:
            return
        if ch.tech == "Snoop":
            self._end_snoop(ch, explicit=False)
            return
        peer = ch.peer
        if not ch.answered:
            self.dial_event(ch, "NOANSWER")
            if peer is not None:
                self._hangup_request(peer, 0)
            self._destroy(ch, 0)
            if peer is not None:
                self._hangup_request(peer, 16, soft=True)
                self._destroy(peer, 0)
            return
        bridged = ch.bridge is not None
        if ch.bridge is not None:
            self.bridges.leave(ch, hangup=True)
        if peer is not None:
            self._hangup_request(peer, 16, soft=True)
            self._hangup_request(ch, 0)
        self._leave_call(ch, hangup=True)
        self._end_snoops(ch)
        if ch.tech == "PJSIP":  # its RTP ends (20c: the agent phone's QoS variables)
            for name, value in QOS_VARS.items():
                self.varset(ch, name, value)
        if peer is not None:
            self._destroy(peer, 0)
        self._destroy(ch, 16 if bridged else 0)

    # ------------------------------------------------------------------- snoop
    def snoop(self, spied: Channel, args: list[str], snoop_id: str | None) -> dict[str, Any]:
        sid = snoop_id or self.uniqueid()
        if sid in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")
        ch = Channel(sid, f"Snoop/{spied.id}-{next(self._snoop_seq):08x}", "Snoop", "Up",
                     "default", "s", origin="snoop", spied=spied)
        ch.answered = True
        ch.uniqueid = sid
        spied.snoops.append(ch)
        self.register(ch)
        created = ch.json()
        self.enter_stasis(ch, args)
        return created

    def _end_snoops(self, spied: Channel) -> None:
        for snoop in list(spied.snoops):
            self._end_snoop(snoop, explicit=False)

    def _end_snoop(self, ch: Channel, explicit: bool) -> None:
        # 12: the snoop leaves its bridge and gets StasisEnd, never ChannelDestroyed.
        if explicit:
            self._hangup_request(ch, 32, soft=True)
        self._leave_call(ch, hangup=True)  # ends the snoop's recording first
        ch.alive = False
        ch.cancel_timers()
        self.channels.pop(ch.id, None)
        if ch.spied is not None and ch in ch.spied.snoops:
            ch.spied.snoops.remove(ch)

    # ------------------------------------------------------------ application
    def app_json(self) -> dict[str, Any]:
        chans = sorted(c.id for c in self.channels.values() if c.subscribed)
        bridges = sorted(b.id for b in self.bridges.by_id.values()
                         if b.explicit_subscription or any(c.subscribed for c in b.channels))
        return {"name": self.hub.app, "channel_ids": chans, "bridge_ids": bridges,
                "endpoint_ids": [], "device_names": [], "events_allowed": [],
                "events_disallowed": []}
