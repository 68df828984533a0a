"""Call recording policy: which calls are recorded, in what format, how big the files get.

Pure logic, no I/O. A campaign or inbound flow records `all`, `none` or a percentage of its
calls; the sample is decided from the call's id (a hash), so a given call's verdict is the
same in every process and after a restart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

RecordFormat = Literal["wav", "gsm", "ulaw"]
RECORD_FORMATS: tuple[RecordFormat, ...] = ("wav", "gsm", "ulaw")
DEFAULT_RETENTION_DAYS = 90

# Bytes per second of audio as Asterisk writes each format (8 kHz mono): wav is 16-bit PCM
# after a 44-byte header; gsm is 33-byte frames of 20 ms; ulaw is one byte per sample.
BYTES_PER_S: dict[str, int] = {"wav": 16000, "gsm": 1650, "ulaw": 8000}
HEADER_BYTES: dict[str, int] = {"wav": 44, "gsm": 0, "ulaw": 0}


def parse_record(text: str) -> int:
    """`all` -> 100, `none` -> 0, `25` or `25%` -> 25: the share of calls recorded, percent."""
    t = text.strip().lower().removesuffix("%").strip()
    if t == "all":
        return 100
    if t == "none":
        return 0
    if not t.isdigit() or not 0 <= int(t) <= 100:
        raise ValueError(f"expected all, none or a percentage 0-100, got {text!r}")
    return int(t)


def format_record(pct: int) -> str:
    return {100: "all", 0: "none"}.get(pct, f"{pct}%")


def sampled(pct: int, call_id: str) -> bool:
    """Whether the call falls in a `pct` percent sample (stable for a given id)."""
    if pct >= 100:
        return True
    if pct <= 0:
        return False
    digest = hashlib.blake2b(call_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000 < pct * 100


def audio_seconds(fmt: str, size_bytes: int) -> float:
    """How long a recording file of `size_bytes` plays."""
    return max(0, size_bytes - HEADER_BYTES.get(fmt, 0)) / BYTES_PER_S[fmt]


def bytes_per_hour(fmt: str) -> int:
    """Disk per hour of recorded calls, for sizing (docs/asterisk.md)."""
    return BYTES_PER_S[fmt] * 3600


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    pct: int = 0
    format: RecordFormat = "wav"
    notice: str | None = None  # media played to the customer when connected, e.g. sound:x
    retention_days: int = DEFAULT_RETENTION_DAYS

    def records(self, call_id: str) -> bool:
        return sampled(self.pct, call_id)
