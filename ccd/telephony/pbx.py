"""The Pbx interface: the only way the engine and the IVR drive calls.

Domain terms only. A call is named by its `call_id`: for originated calls it is our attempt id
(used as the ARI channelId, so a retry is idempotent and a restart can ask Asterisk by id); for
calls that entered from the dialplan (inbound, snoop) it is Asterisk's channel id.

Contract of the event stream (see `PbxHandler`):
- events of one call reach the handler in Asterisk's order, one at a time; different calls run
  concurrently, so a slow handler for one call never delays another;
- every call the Pbx knows about ends with exactly one `CallEnded`; for a call that vanished
  while the event link was down, `CallEnded.lost` is True and the cause fields are None; for
  one Asterisk hung up because it was stopping or restarting, `CallEnded.shutdown` is True;
- after every (re)connect of a node, `on_pbx_reconnected(node, live_call_ids)` reports the calls
  Asterisk still has, so the engine can settle attempts it believes live (Asterisk does not
  replay events missed while disconnected).

The implementation over ARI (+AMI) is `ccd.telephony.ari_pbx.AriPbx`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from ccd.telephony.causes import Outcome
from ccd.telephony.errors import (
    AriConflict,
    AriNotFound,
    PbxError,
    PbxTimeout,
    PbxUnavailable,
)

__all__ = [
    "AmdResult",
    "AriConflict",
    "AriNotFound",
    "BridgeKind",
    "CallAnswered",
    "CallBridged",
    "CallEnded",
    "CallEntered",
    "CallRinging",
    "CallUnbridged",
    "DtmfReceived",
    "FaxReport",
    "HangupReason",
    "LinkStatus",
    "LiveCall",
    "Outcome",
    "Pbx",
    "PbxError",
    "PbxEvent",
    "PbxHandler",
    "PbxTimeout",
    "PbxUnavailable",
    "PlaybackFinished",
    "SpyDirection",
    "ToneDetected",
]


class BridgeKind(StrEnum):
    MIXING = "mixing"
    HOLDING = "holding"


class LinkStatus(StrEnum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    CLOSED = "CLOSED"


HangupReason = Literal[
    "normal",
    "busy",
    "congestion",
    "no_answer",
    "timeout",
    "rejected",
    "unallocated",
    "normal_unspecified",
    "number_incomplete",
    "codec_mismatch",
    "interworking",
    "failure",
    "answered_elsewhere",
]
SpyDirection = Literal["none", "both", "in", "out"]


# --- events (frozen; `at` is Asterisk's timestamp of the event, timezone-aware) ---


@dataclass(frozen=True, slots=True)
class CallRinging:
    """The far end is alerting (Dial RINGING) - ring time starts here."""

    call_id: str
    node: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """An originated call was answered and is now under our control."""

    call_id: str
    node: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallEntered:
    """A channel entered our application from the dialplan, e.g. Stasis(ccd,inbound,${EXTEN}).

    `args` are the Stasis arguments after the app name: ("inbound", "<did>") for inbound calls.
    `recovered`: its StasisStart never arrived (lost on a half-open link); the channel was found
    in our application at a resync, and `at` is when it was found.
    """

    call_id: str
    node: str
    at: datetime
    args: tuple[str, ...]
    caller_number: str
    caller_name: str
    did: str  # the dialed extension of the channel's dialplan position
    channel_name: str
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class AmdResult:
    """AMD() finished on an answered call originated with amd=True."""

    call_id: str
    node: str
    at: datetime
    status: str  # HUMAN, MACHINE, NOTSURE, HANGUP
    cause: str  # e.g. HUMAN-800-800, MAXWORDS-3-2


@dataclass(frozen=True, slots=True)
class ToneDetected:
    call_id: str
    node: str
    at: datetime
    tone: str  # "fax"


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    call_id: str
    node: str
    at: datetime
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback ended; ok is False when it failed (missing file, caller hung up)."""

    playback_id: str
    call_id: str
    node: str
    at: datetime
    ok: bool


@dataclass(frozen=True, slots=True)
class CallBridged:
    call_id: str
    node: str
    at: datetime
    bridge_id: str


@dataclass(frozen=True, slots=True)
class CallUnbridged:
    call_id: str
    node: str
    at: datetime
    bridge_id: str


@dataclass(frozen=True, slots=True)
class FaxReport:
    """What SendFAX()/ReceiveFAX() left on the channel (FAXSTATUS, FAXERROR, ...)."""

    status: str  # SUCCESS | FAILED
    error: str | None = None
    detail: str | None = None  # FAXSTATUSSTRING
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; sent exactly once per call."""

    call_id: str
    node: str
    at: datetime
    outcome: Outcome
    answered: bool
    cause: int | None  # Q.850
    sip_code: int | None
    dial_status: str | None
    lost: bool = False  # vanished while the event link was down; causes unknown
    cause_txt: str | None = None  # Asterisk's text for the cause, e.g. "User busy"
    # Cut by an Asterisk shutdown or restart: a soft hangup request with cause 4
    # (AST_SOFTHANGUP_SHUTDOWN) came first; the causes that follow say nothing of the far end.
    shutdown: bool = False
    fax: FaxReport | None = None  # the call ran a fax application in the dialplan


@dataclass(frozen=True, slots=True)
class RecordingStarted:
    """RecordingStarted of a recording on a channel (call_id: the recorded channel)."""

    call_id: str
    node: str
    at: datetime
    name: str


@dataclass(frozen=True, slots=True)
class RecordingEnded:
    """RecordingFinished (ok) or RecordingFailed of a recording on a channel; call_id is the
    recorded channel (e.g. the snoop that records a call)."""

    call_id: str
    node: str
    at: datetime
    name: str
    ok: bool
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A stored recording's file as the node serves it: read `chunks` once."""

    content_type: str
    size: int | None
    chunks: AsyncIterator[bytes]


PbxEvent = (
    CallRinging
    | CallAnswered
    | CallEntered
    | AmdResult
    | ToneDetected
    | DtmfReceived
    | PlaybackFinished
    | CallBridged
    | CallUnbridged
    | CallEnded
    | RecordingStarted
    | RecordingEnded
)


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call Asterisk reports as existing right now."""

    call_id: str
    node: str
    state: str  # Asterisk channel state: Down, Ring, Ringing, Up, ...
    channel_name: str


class PbxHandler(Protocol):
    """What the engine implements to receive events; see the module docstring for ordering."""

    async def on_pbx_event(self, event: PbxEvent) -> None: ...

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None: ...


class Pbx(Protocol):
    def set_handler(self, handler: PbxHandler) -> None:
        """Register the one event handler; call before start()."""

    async def start(self) -> None:
        """Connect every node; bad credentials raise AriAuthError/AmiAuthError naming the node."""

    async def close(self) -> None: ...

    def link_status(self) -> Mapping[str, LinkStatus]:
        """Event-link status per node name."""

    async def originate(
        self,
        call_id: str,
        endpoint: str,
        *,
        caller_id: str,
        timeout_s: int,
        variables: Mapping[str, str] | None = None,
        amd: bool = False,
        tone_detect: bool = False,
        node: str | None = None,
    ) -> str:
        """Place a call; returns the node it went to. Idempotent per call_id (a 409 on a retry
        counts as sent). Raises PbxUnavailable when no node is connected."""

    async def answer(self, call_id: str) -> None: ...

    async def hangup(self, call_id: str, reason: HangupReason = "normal") -> None:
        """Hang up; a call that is already gone is not an error."""

    async def ring(self, call_id: str, on: bool = True) -> None: ...

    async def play(
        self, call_id: str, media: Sequence[str], *, playback_id: str | None = None
    ) -> str:
        """Queue media ("sound:hello-world", "digits:42", ...); returns the playback id."""

    async def stop_playback(self, playback_id: str) -> None: ...

    async def set_moh(self, call_id: str, on: bool, *, moh_class: str | None = None) -> None: ...

    async def create_bridge(
        self, bridge_id: str, kind: BridgeKind = BridgeKind.MIXING, *, node: str | None = None
    ) -> None:
        """Create a bridge (idempotent: an existing bridge with this id is fine)."""

    async def add_to_bridge(
        self,
        bridge_id: str,
        call_ids: Sequence[str],
        *,
        role: str | None = None,
        mute: bool = False,
    ) -> None: ...

    async def remove_from_bridge(self, bridge_id: str, call_ids: Sequence[str]) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> None:
        """Destroy; a bridge that is already gone is not an error."""

    async def set_bridge_moh(
        self, bridge_id: str, on: bool, *, moh_class: str | None = None
    ) -> None: ...

    async def record_bridge(self, bridge_id: str, name: str, *, fmt: str = "wav") -> None: ...

    async def record_call(self, call_id: str, name: str, *, fmt: str = "wav") -> None:
        """Record a channel (a snoop) into the stored recording `name`; ends with
        RecordingEnded when the channel goes."""

    async def pause_recording(self, name: str, paused: bool, *, node: str) -> None: ...

    async def recording_live(self, name: str, *, node: str) -> bool:
        """Whether the node still records `name`."""

    def stored_file(self, name: str, *, node: str) -> AbstractAsyncContextManager[StoredFile]:
        """The stored recording's file; raises AriNotFound when the node has none."""

    async def delete_stored(self, name: str, *, node: str) -> bool:
        """Delete a stored recording; False when the node had none."""

    async def snoop(
        self,
        call_id: str,
        snoop_id: str,
        *,
        spy: SpyDirection = "both",
        whisper: SpyDirection = "none",
    ) -> None:
        """Create a snoop channel on call_id; it is a call of its own (ends with CallEnded)."""

    async def continue_in_dialplan(
        self,
        call_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None: ...

    async def redirect(self, call_id: str, endpoint: str) -> None: ...

    async def set_var(self, call_id: str, name: str, value: str) -> None: ...

    async def get_var(self, call_id: str, name: str) -> str | None:
        """The variable's value, None when it is not set."""

    async def send_dtmf(self, call_id: str, digits: str) -> None: ...

    async def live_calls(self) -> list[LiveCall]:
        """Ask every connected node for the calls it has now (GET /channels)."""
