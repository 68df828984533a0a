"""Recording policy: all/none/percent, the stable sample, file sizes per format."""

from __future__ import annotations

import uuid

import pytest

from ccd.domain.recording import (
    RecordPolicy,
    audio_seconds,
    bytes_per_hour,
    format_record,
    parse_record,
    sampled,
)


@pytest.mark.parametrize(("text", "pct"), [
    ("all", 100), ("none", 0), ("ALL", 100), ("25", 25), ("25%", 25), (" 7 % ", 7), ("0", 0),
])  # fmt: skip
def test_parse_record(text: str, pct: int) -> None:
    assert parse_record(text) == pct
    assert parse_record(format_record(pct)) == pct


@pytest.mark.parametrize("text", ["some", "101", "-5", "2.5", "", "%"])
def test_parse_record_refuses_what_is_not_a_share(text: str) -> None:
    with pytest.raises(ValueError, match="all, none or a percentage"):
        parse_record(text)


def test_a_percentage_samples_that_share_and_always_the_same_calls() -> None:
    ids = [str(uuid.UUID(int=i * 7919 + 13)) for i in range(20_000)]
    for pct in (1, 10, 30, 75):
        share = sum(sampled(pct, i) for i in ids) / len(ids)
        assert abs(share - pct / 100) < 0.01, (pct, share)
    assert [sampled(30, i) for i in ids[:500]] == [sampled(30, i) for i in ids[:500]]
    # A call in a 10 % sample is also in the 30 % one: raising the share adds calls.
    assert all(sampled(30, i) for i in ids if sampled(10, i))
    assert all(sampled(100, i) for i in ids[:100]) and not any(sampled(0, i) for i in ids[:100])
    assert RecordPolicy(pct=100).records("x") and not RecordPolicy().records("x")


def test_file_sizes_and_lengths_per_format() -> None:
    assert audio_seconds("wav", 44 + 16000 * 3) == 3.0
    assert audio_seconds("gsm", 1650 * 2) == 2.0
    assert audio_seconds("ulaw", 4000) == 0.5
    assert audio_seconds("wav", 10) == 0.0
    # Disk per hour of calls: wav 57.6 MB, ulaw 28.8 MB, gsm 5.9 MB (docs/asterisk.md).
    assert (bytes_per_hour("wav"), bytes_per_hour("ulaw"), bytes_per_hour("gsm")) == (
        57_600_000, 28_800_000, 5_940_000,
    )  # fmt: skip
