"""Live and stored recordings of the double, with real audio files.

As Asterisk 22 does it (recordings.json, channels.json, bridges.json; events.json):
- POST /channels/{id}/record or /bridges/{id}/record answers 201 with the LiveRecording in
  state "queued" and sends RecordingStarted (state "recording"). A channel in a bridge is
  refused with 409 (channels.json: "the channel is currently bridged"), which is why a bridged
  call is recorded through a snoop; an unknown format is 422.
- A channel recording ends when its channel goes; a bridge recording when the bridge is
  destroyed, or on POST /recordings/live/{name}/stop: RecordingFinished with state "done"
  and the duration in seconds, and the file is stored. DELETE (cancel) discards it.
- Pause (POST/DELETE .../pause) keeps the file open but writes nothing meanwhile; 409
  "Recording not in session" once it is not recording.
- GET /recordings/stored/{name}/file serves the file.
- A recording that cannot be written (`fail_cause`, a fault) sends RecordingFailed with
  state "failed" and the cause, and leaves no file.

The file is 8 kHz mono audio of the recording's real length minus its pauses (the double's
calls are already scaled, so a file is as long as the call it recorded ran), a quiet 440 Hz
tone: a valid WAV (16-bit PCM), raw mu-law, or GSM 06.10 frames (33 bytes per 20 ms).
Files are made when asked for, not held in memory.
"""

from __future__ import annotations

import io
import math
import struct
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ccd.sim.asterisk.errors import AriError

RATE = 8000
# format -> (Content-Type, bytes per second)
FORMATS = {
    "wav": ("audio/wav", 16000), "gsm": ("audio/x-gsm", 1650), "ulaw": ("audio/basic", 8000),
}  # fmt: skip
# One GSM 06.10 frame (33 bytes, 20 ms; the high nibble 0xD is the frame signature).
_GSM_FRAME = bytes([0xD8]) + bytes(32)


@dataclass(eq=False)
class Recording:
    name: str
    format: str
    target_uri: str
    state: str = "recording"
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    paused_since: float | None = None
    paused_s: float = 0.0

    def audio_s(self) -> float:
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        paused = self.paused_s + (end - self.paused_since if self.paused_since else 0.0)
        return max(0.0, end - self.started_at - paused)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "format": self.format,
                               "target_uri": self.target_uri, "state": self.state}
        if self.state == "done":
            out["duration"] = int(self.audio_s())
        return out


def audio_file(fmt: str, seconds: float) -> bytes:
    samples = int(seconds * RATE)
    if fmt == "gsm":
        return _GSM_FRAME * (samples // 160)
    pcm = [int(800 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(RATE // 10)]
    period = struct.pack(f"<{len(pcm)}h", *pcm)  # 100 ms repeats seamlessly at 440 Hz
    data = (period * (samples // len(pcm) + 1))[: samples * 2]
    if fmt == "ulaw":
        return bytes(_ulaw(s) for s in struct.unpack(f"<{samples}h", data))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data)
    return buf.getvalue()


def _ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


class Recordings:
    def __init__(self, emit: Callable[[str, dict[str, Any], bool], None]) -> None:
        self._emit = emit
        self.live: dict[str, Recording] = {}
        self.stored: dict[str, Recording] = {}
        self._to_app: dict[str, bool] = {}
        # A fault: recordings cannot be written (a full or read-only spool); each new one
        # answers 201, then fails with RecordingFailed and this cause.
        self.fail_cause: str | None = None

    def start(self, name: str, fmt: str, target_uri: str, if_exists: str,
              to_app: bool) -> Recording:
        if fmt not in FORMATS:
            raise AriError(422, "Recording format is unknown on this system")
        if name in self.live or (name in self.stored and if_exists == "fail"):
            raise AriError(409, "Recording with the same name already exists on the system")
        rec = Recording(name, fmt, target_uri)
        if self.fail_cause is not None:
            rec.state = "failed"
            self._emit("RecordingFailed", {**rec.json(), "cause": self.fail_cause}, to_app)
            return rec
        self.live[name] = rec
        self._to_app[name] = to_app
        self._emit("RecordingStarted", rec.json(), to_app)
        return rec

    def get_live(self, name: str) -> Recording:
        rec = self.live.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def finish(self, name: str, *, keep: bool = True) -> None:
        rec = self.get_live(name)
        del self.live[name]
        rec.ended_at = time.monotonic()
        if rec.paused_since is not None:
            rec.paused_s += rec.ended_at - rec.paused_since
            rec.paused_since = None
        rec.state = "done" if keep else "canceled"
        if keep:
            self.stored[name] = rec
        self._emit("RecordingFinished", rec.json(), self._to_app.pop(name, True))

    def pause(self, name: str, on: bool) -> None:
        rec = self.get_live(name)
        if rec.state not in ("recording", "paused"):
            raise AriError(409, "Recording not in session")
        now = time.monotonic()
        if on and rec.paused_since is None:
            rec.paused_since, rec.state = now, "paused"
        elif not on and rec.paused_since is not None:
            rec.paused_s += now - rec.paused_since
            rec.paused_since, rec.state = None, "recording"

    def target_gone(self, target_uri: str) -> None:
        """The recorded channel hung up or the recorded bridge was destroyed."""
        for rec in [r for r in self.live.values() if r.target_uri == target_uri]:
            self.finish(rec.name)

    def stored_get(self, name: str) -> Recording:
        rec = self.stored.get(name)
        if rec is None:
            raise AriError(404, "Recording not found")
        return rec

    def file(self, name: str) -> tuple[str, bytes]:
        rec = self.stored_get(name)
        return FORMATS[rec.format][0], audio_file(rec.format, rec.audio_s())
