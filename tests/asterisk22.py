"""The recordings of a real Asterisk 22.10.1 that tests replay, kept in the project
(tests/fixtures/asterisk-22; its README says how they were made and what each shows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRANSCRIPTS = Path(__file__).resolve().parent / "fixtures" / "asterisk-22"


def transcript_names() -> list[str]:
    return sorted(p.stem for p in TRANSCRIPTS.glob("*.json"))


def transcript(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TRANSCRIPTS / f"{name}.json").read_text())
    return data
