"""Encoding and long messages: every alphabet character, every part boundary, both codings."""

from __future__ import annotations

import random

import pytest

from ccd.messaging.sms.encoding import (
    ESC,
    GSM_BASIC,
    GSM_EXTENSION,
    Coding,
    Concat,
    EncodingError,
    concat_udh,
    count_parts,
    decode,
    gsm7_decode,
    gsm7_encode,
    measure,
    plan,
    split_udh,
)

BASIC = "".join(GSM_BASIC)
EXTENSION = "".join(GSM_EXTENSION)


def _reassemble(parts: tuple[bytes, ...], coding: Coding) -> str:
    """The receiver's side: strip UDHs, join payloads in order, decode once."""
    if len(parts) == 1:
        return decode(coding, parts[0])
    payload = b""
    for seq, part in enumerate(parts, start=1):
        concat, body = split_udh(part)
        assert concat is not None and concat.seq == seq and concat.total == len(parts)
        payload += body
    return decode(coding, payload)


def test_the_alphabet_has_127_characters_and_ten_extensions() -> None:
    assert len(GSM_BASIC) == 127  # 128 codes, one of them the escape
    assert set(EXTENSION) == set("\f^{}\\[~]|€")


@pytest.mark.parametrize("ch", list(BASIC))
def test_every_basic_character_is_one_septet_and_round_trips(ch: str) -> None:
    assert measure(ch) == (Coding.GSM7, 1)
    assert gsm7_encode(ch) == bytes((GSM_BASIC[ch],))
    assert gsm7_decode(bytes((GSM_BASIC[ch],))) == ch


@pytest.mark.parametrize("ch", list(EXTENSION))
def test_every_extension_character_is_two_septets_and_round_trips(ch: str) -> None:
    assert measure(ch) == (Coding.GSM7, 2)
    assert gsm7_encode(ch) == bytes((ESC, GSM_EXTENSION[ch]))
    assert gsm7_decode(bytes((ESC, GSM_EXTENSION[ch]))) == ch


@pytest.mark.parametrize(
    "ch", ["`", "ä".upper() + "\u0301", "Ж", "ї", "ґ", "😀", "\u00a0", "á", "ç", "\t", "ё"]
)
def test_a_character_outside_03_38_makes_the_text_ucs2(ch: str) -> None:
    assert gsm7_encode("abc" + ch) is None
    assert measure("abc" + ch)[0] is Coding.UCS2


def test_the_whole_alphabet_round_trips_through_parts() -> None:
    text = BASIC + EXTENSION
    p = plan(text, ref=7)
    assert p.coding is Coding.GSM7 and p.units == 127 + 2 * 10
    assert _reassemble(p.parts, p.coding) == text


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_part_boundaries_160_then_153(length: int, parts: int) -> None:
    text = "a" * length
    assert count_parts(text) == parts
    p = plan(text, ref=1)
    assert len(p.parts) == parts
    if parts > 1:
        assert all(len(part) == 6 + 153 for part in p.parts[:-1])
    assert _reassemble(p.parts, p.coding) == text


@pytest.mark.parametrize(
    ("length", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_part_boundaries_70_then_67(length: int, parts: int) -> None:
    text = "ж" * length
    assert count_parts(text) == parts
    p = plan(text, ref=1)
    assert p.coding is Coding.UCS2 and len(p.parts) == parts
    if parts > 1:
        assert all(len(part) == 6 + 67 * 2 for part in p.parts[:-1])
    assert _reassemble(p.parts, p.coding) == text


def test_extension_characters_count_double_at_the_single_part_limit() -> None:
    assert count_parts("€" * 80) == 1  # 160 septets
    assert count_parts("€" * 80 + "a") == 2
    assert count_parts("a" * 159 + "€") == 2  # 161 septets


def test_an_escape_pair_is_never_cut_between_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro would straddle septets 153/154
    p = plan(text, ref=3)
    _, first = split_udh(p.parts[0])
    assert first == b"a" * 152  # 152 septets: the pair moved whole to part 2
    _, second = split_udh(p.parts[1])
    assert second[:2] == bytes((ESC, GSM_EXTENSION["€"]))
    assert _reassemble(p.parts, p.coding) == text


def test_a_surrogate_pair_is_never_cut_and_counts_two_units() -> None:
    assert measure("😀") == (Coding.UCS2, 2)
    assert count_parts("😀" * 35) == 1  # 70 units
    assert count_parts("😀" * 35 + "a") == 2
    text = "я" * 66 + "😀" + "я" * 5  # the emoji would straddle units 67/68
    p = plan(text, ref=9)
    _, first = split_udh(p.parts[0])
    assert len(first) == 66 * 2
    assert _reassemble(p.parts, p.coding) == text


@pytest.mark.parametrize(
    "text",
    [
        "Привет! Ваш код: 1234",
        "Ґанок, їжак, єнот, і так далі — українською",
        "Mixed latin and кириллица",
        "Emoji 👍🏽 and flags 🇷🇺 with ZWJ 👨‍👩‍👧",
        "Ä{ö}ü[ß]~€|^\\ with\fform feed",
    ],
)
def test_real_texts_round_trip_at_every_length(text: str) -> None:
    long = text * 12
    for n in range(1, len(long) + 1):
        chunk = long[:n]
        if chunk[-1:] and 0xD800 <= ord(chunk[-1]) <= 0xDFFF:
            continue
        p = plan(chunk, ref=n % 256)
        assert len(p.parts) == count_parts(chunk)
        assert _reassemble(p.parts, p.coding) == chunk


def test_random_texts_fill_every_part_to_its_limit() -> None:
    rng = random.Random(16)
    pool = BASIC + EXTENSION + "жЇ😀€"
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(1, 700)))
        coding, units = measure(text)
        p = plan(text, ref=rng.randint(0, 255))
        assert _reassemble(p.parts, p.coding) == text
        per_part = 153 if coding is Coding.GSM7 else 67
        width = 1 if coding is Coding.GSM7 else 2
        for part in p.parts[:-1]:  # a full part is short by at most one character
            assert per_part - 1 <= (len(part) - 6) // width <= per_part
        assert (len(p.parts) == 1) == (units <= (160 if coding is Coding.GSM7 else 70))


def test_the_udh_carries_reference_total_and_sequence() -> None:
    p = plan("x" * 400, ref=0xAB)
    heads = [split_udh(part)[0] for part in p.parts]
    assert heads == [Concat(0xAB, 3, 1), Concat(0xAB, 3, 2), Concat(0xAB, 3, 3)]
    assert p.parts[0][:6] == bytes((5, 0, 3, 0xAB, 3, 1))


def test_a_16_bit_reference_udh_is_read() -> None:
    msg = bytes((6, 0x08, 4, 0x12, 0x34, 2, 1)) + b"hi"
    assert split_udh(msg) == (Concat(0x1234, 2, 1), b"hi")


def test_other_udh_elements_are_skipped() -> None:
    msg = bytes((9, 0x0A, 2, 0, 0, 0x00, 3, 5, 2, 2)) + b"ok"  # text formatting, then concat
    assert split_udh(msg) == (Concat(5, 2, 2), b"ok")


@pytest.mark.parametrize(
    ("bad", "why"),
    [(b"", "empty"), (bytes((9, 0, 3)), "runs past"), (bytes((5, 0, 3, 1, 2, 3)), "part 3 of 2")],
)
def test_a_broken_udh_is_a_clear_error(bad: bytes, why: str) -> None:
    with pytest.raises(EncodingError, match=why):
        split_udh(bad)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(EncodingError, match="at least one character"):
        plan("", ref=0)
    with pytest.raises(EncodingError, match="more than the 255"):
        plan("a" * (153 * 255 + 1), ref=0)
    with pytest.raises(EncodingError, match="outside 0..255"):
        concat_udh(256, 2, 1)
    with pytest.raises(EncodingError, match="above 0x7f"):
        gsm7_decode(b"\x80")
    with pytest.raises(EncodingError, match="odd length"):
        decode(0x08, b"\x00")
    with pytest.raises(EncodingError, match="0x04"):
        decode(0x04, b"\x00")


def test_other_data_codings_decode() -> None:
    assert decode(0x01, b"STOP") == "STOP"
    assert decode(0x03, "café".encode("latin-1")) == "café"
    assert decode(0xF0, bytes((0x41,))) == "A"  # message class 0, 7-bit
    assert count_parts("") == 0
