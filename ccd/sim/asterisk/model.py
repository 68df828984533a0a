"""The objects the double simulates (channels, bridges, playbacks) and their ARI JSON shapes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ccd.sim.asterisk.farend import FarEnd

CAUSE_TEXT: dict[int, str] = {
    0: "Unknown", 1: "Unallocated (unassigned) number", 3: "No route to destination",
    16: "Normal Clearing", 17: "User busy", 18: "No user responding",
    19: "User alerting, no answer", 21: "Call Rejected", 26: "Answered elsewhere",
    27: "Destination out of order", 28: "Invalid number format", 31: "Normal, unspecified",
    34: "Circuit/channel congestion", 38: "Network out of order", 41: "Temporary failure",
    58: "Bearer capability not presently available", 127: "Interworking, unspecified",
}
# DELETE /channels/{id}?reason=... -> Q.850 cause (Asterisk's ari hangup reason table).
HANGUP_REASONS: dict[str, int] = {
    "normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "timeout": 18, "rejected": 21,
    "unallocated": 1, "normal_unspecified": 31, "number_incomplete": 28, "codec_mismatch": 58,
    "interworking": 127, "failure": 38, "answered_elsewhere": 26,
}
EIGHT_KHZ = frozenset({"ulaw", "alaw", "gsm", "g729", "ilbc"})


def timestamp() -> str:
    """Asterisk's ARI time format: 2026-11-22T07:47:23.201+0000."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


@dataclass(eq=False, slots=True)
class Channel:
    id: str
    name: str
    tech: str  # "Local" | "PJSIP" | "Snoop"
    state: str
    context: str
    exten: str
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    caller: tuple[str, str] = ("", "")  # (name, number)
    connected: tuple[str, str] = ("", "")
    protocol_id: str = ""
    creationtime: str = field(default_factory=timestamp)
    created_at: float = field(default_factory=time.monotonic)
    # Simulation state
    origin: str = "ari"  # "ari" (originated with app=), "dialplan", "ami", "snoop", "local2"
    peer: Channel | None = None  # the other half of a Local channel
    far_end: FarEnd | None = None
    trunk: str | None = None
    dialstring: str = ""
    subscribed: bool = False  # the app gets this channel's events
    in_stasis: bool = False
    stasis_entries: int = 0
    stasis_args: list[str] = field(default_factory=list)
    app_args: str = ""
    answered: bool = False
    alive: bool = True
    eight_khz: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    tone_detect: set[int] = field(default_factory=set)
    tone_hits: int = 0
    tone_freq: int = 0  # the far end's fax tone, once it sounds
    tone_until: float = 0.0  # monotonic end of the current burst
    tone_pending: bool = False
    faxing: bool = False  # in SendFAX() (the ccd-fax context)
    bridge: Bridge | None = None
    bridge_vars: list[str] = field(default_factory=list)  # BRIDGEPEER etc. currently set
    snoops: list[Channel] = field(default_factory=list)
    spied: Channel | None = None
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    playbacks: list[Playback] = field(default_factory=list)  # [0] is the one playing
    on_result: Any = None  # an AMI originate's result callback
    ami_app: tuple[str, str] | None = None  # (Application, Data) of an AMI originate
    uniqueid: str = ""
    linkedid: str = ""  # the call's first channel (a queue member's caller)
    queue: object | None = None  # the app_queue Queue the channel waits in

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller[0], "number": self.caller[1]},
            "connected": {"name": self.connected[0], "number": self.connected[1]},
            "accountcode": "",
            "dialplan": {"context": self.context, "exten": self.exten, "priority": self.priority,
                         "app_name": self.app_name, "app_data": self.app_data},
            "creationtime": self.creationtime, "language": "en",
        }

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()


@dataclass(eq=False, slots=True)
class Bridge:
    id: str
    bridge_type: str  # "mixing" | "holding"
    name: str = ""
    channels: list[Channel] = field(default_factory=list)
    creationtime: str = field(default_factory=timestamp)
    explicit_subscription: bool = False
    # A channel that left by hanging up keeps the app subscribed (README fact 5, transcripts 12/19).
    hangup_left: bool = False
    moh_class: str | None = None
    playbacks: list[Playback] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": "holding_bridge" if self.bridge_type == "holding" else "simple_bridge",
            "bridge_type": self.bridge_type, "bridge_class": "stasis", "creator": "Stasis",
            "name": self.name, "channels": [c.id for c in reversed(self.channels)],
            "creationtime": self.creationtime, "video_mode": "talker",
        }


@dataclass(eq=False, slots=True)
class Playback:
    id: str
    media: list[str]
    target_uri: str
    index: int = 0
    state: str = "queued"
    timer: asyncio.TimerHandle | None = None

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            out["next_media_uri"] = self.media[self.index + 1]
        out.update(target_uri=self.target_uri, language="en", state=self.state)
        return out
