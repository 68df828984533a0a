"""Playbacks on channels and bridges (11): queued per target, nominal durations, stop, failure."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from ccd.sim.asterisk.model import Bridge, Channel, Playback

if TYPE_CHECKING:
    from ccd.sim.asterisk.pbx import Pbx

SOUND_SECONDS = 1.0  # every sound file lasts this long (nominal, times time_scale)
DIGIT_SECONDS = 0.5  # per digit/character of digits:, number:, characters:
_PER_CHAR = ("digits:", "number:", "characters:")
_ONE_FILE = ("sound:", "recording:")
# What GET /sounds lists at start: Asterisk core sounds that ccd and its example flows use.
# Playback does not consult the list (any name plays unless it is in missing_sounds); tests
# add to installed_sounds to model files recorded on the node.
STOCK_SOUNDS = frozenset({
    "agent-user", "all-reps-busy", "auth-thankyou", "beep", "demo-instruct", "hello-world",
    "option-is-invalid", "please-try-again-later", "pls-hold-while-try", "queue-callswaiting",
    "queue-holdtime", "queue-minutes", "queue-thereare", "ss-noservice", "vm-goodbye",
    "vm-intro",
})  # fmt: skip


class Media:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.playbacks: dict[str, Playback] = {}
        self.missing_sounds: set[str] = set()
        self.sound_seconds: dict[str, float] = {}  # per-sound durations overriding SOUND_SECONDS
        self.installed_sounds: set[str] = set(STOCK_SOUNDS)
        self._owner: dict[str, Channel | Bridge] = {}

    def sound_ids(self) -> list[str]:
        """GET /sounds: the installed sounds, less those made to fail."""
        return sorted(self.installed_sounds - self.missing_sounds)

    def duration(self, uri: str) -> float | None:
        """Seconds, 0.0 for a missing sound (fails at once), None for media that never ends
        (tone:, and schemes Asterisk does not know: fact 10)."""
        if uri.startswith("sound:") and uri[6:] in self.missing_sounds:
            return 0.0
        if uri.startswith(_ONE_FILE):
            return self.sound_seconds.get(uri.split(":", 1)[1], SOUND_SECONDS)
        for prefix in _PER_CHAR:
            if uri.startswith(prefix):
                return DIGIT_SECONDS * max(1, len(uri) - len(prefix))
        return None

    def play(self, target: Channel | Bridge, media: list[str], playback_id: str | None) -> Playback:
        pid = playback_id or str(uuid.uuid4())
        kind = "channel" if isinstance(target, Channel) else "bridge"
        pb = Playback(pid, media, f"{kind}:{target.id}")
        self.playbacks[pid] = pb
        self._owner[pid] = target
        target.playbacks.append(pb)
        if len(target.playbacks) == 1:
            asyncio.get_running_loop().call_soon(self._start, pb)
        return pb

    def _emit(self, type_: str, pb: Playback) -> None:
        owner = self._owner.get(pb.id)
        to_app = owner.subscribed if isinstance(owner, Channel) else True
        self.pbx.hub.emit(type_, playback=pb, to_app=to_app)

    def _start(self, pb: Playback) -> None:
        if pb.id not in self.playbacks or pb.state != "queued" and pb.state != "continuing":
            return
        pb.state = "playing"
        self._emit("PlaybackStarted", pb)
        seconds = self.duration(pb.media[pb.index])
        if seconds is None:
            if not pb.media[pb.index].startswith("tone:"):
                self._forget(pb)  # never finishes, and GET answers 404 (16)
            return
        if seconds == 0.0:
            self._finish(pb, "failed")
            return
        pb.timer = asyncio.get_running_loop().call_later(self.pbx.scale(seconds), self._next, pb)

    def _next(self, pb: Playback) -> None:
        if pb.index + 1 < len(pb.media):
            pb.state = "continuing"
            self._emit("PlaybackContinuing", pb)
            pb.index += 1
            self._start(pb)
            return
        self._finish(pb, "done")

    def _finish(self, pb: Playback, state: str) -> None:
        if pb.timer is not None:
            pb.timer.cancel()
        pb.state = state
        self._emit("PlaybackFinished", pb)
        owner = self._forget(pb)
        if owner is not None and owner.playbacks:
            asyncio.get_running_loop().call_soon(self._start, owner.playbacks[0])

    def _forget(self, pb: Playback) -> Channel | Bridge | None:
        self.playbacks.pop(pb.id, None)
        owner = self._owner.pop(pb.id, None)
        if owner is not None and pb in owner.playbacks:
            owner.playbacks.remove(pb)
        return owner

    def get(self, playback_id: str) -> Playback | None:
        return self.playbacks.get(playback_id)

    def stop(self, pb: Playback) -> None:
        # Fact 10: a stopped playback finishes with state "done".
        if pb.state == "queued":
            self._forget(pb)
            pb.state = "done"
            self._emit("PlaybackFinished", pb)
            return
        self._finish(pb, "done")

    def fail_all(self, ch: Channel) -> None:
        """A hangup during a playback ends it "failed" (13b); queued ones are dropped."""
        if not ch.playbacks:
            return
        current, *queued = ch.playbacks
        for pb in queued:
            self._forget(pb)
        if current.state in ("playing", "continuing"):
            ch.playbacks[:] = [current]
            if current.timer is not None:
                current.timer.cancel()
            current.state = "failed"
            self._emit("PlaybackFinished", current)
        self._forget(current)

    def stop_target(self, playbacks: list[Playback]) -> None:
        for pb in list(playbacks):
            if pb.timer is not None:
                pb.timer.cancel()
            self._forget(pb)
