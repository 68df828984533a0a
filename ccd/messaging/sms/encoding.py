"""SMS text encoding and long messages (pure: no I/O).

A text goes as GSM 03.38 7-bit when every character is in the default alphabet or its
extension table (an extension character costs two septets: ESC + code), else as UCS-2 in
UTF-16 code units (an emoji outside the BMP is a surrogate pair: two units). One part holds
160 septets or 70 units; a longer text is cut into parts of 153 septets or 67 units, each
behind a 6-octet concatenation UDH (IEI 0x00, 8-bit reference), and operators bill per part.
A cut never splits an ESC pair or a surrogate pair.

On the SMPP wire GSM 7-bit is sent unpacked, one septet per octet (data_coding 0x00, the
SMSC default alphabet), which is what SMSCs take in short_message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# GSM 03.38 default alphabet, by code. 0x1B is the escape to the extension table, no character.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESC = 0x1B
_EXTENSION = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
    0x3E: "]", 0x40: "|", 0x65: "€",
}  # fmt: skip
assert len(_BASIC) == 128
GSM_BASIC: dict[str, int] = {ch: code for code, ch in enumerate(_BASIC) if code != ESC}
GSM_EXTENSION: dict[str, int] = {ch: code for code, ch in _EXTENSION.items()}

SINGLE_GSM, PART_GSM = 160, 153  # septets
SINGLE_UCS2, PART_UCS2 = 70, 67  # UTF-16 code units
MAX_PARTS = 255  # the 8-bit concatenation reference and counters
IEI_CONCAT_8, IEI_CONCAT_16 = 0x00, 0x08


class Coding(IntEnum):
    """SMPP data_coding values this module writes."""

    GSM7 = 0x00
    UCS2 = 0x08


class EncodingError(ValueError):
    """Text or bytes that cannot be encoded or decoded as asked; the message says why."""


@dataclass(frozen=True)
class Plan:
    """How a text goes out: its coding, the short_message of every part (UDH included), and
    its length in the coding's units (septets or UTF-16 code units)."""

    coding: Coding
    parts: tuple[bytes, ...]
    units: int

    @property
    def concatenated(self) -> bool:
        return len(self.parts) > 1


@dataclass(frozen=True)
class Concat:
    """The concatenation header of one part: reference, total parts, this part's number (1..)."""

    ref: int
    total: int
    seq: int


def _gsm_units(ch: str) -> int | None:
    if ch in GSM_BASIC:
        return 1
    if ch in GSM_EXTENSION:
        return 2
    return None


def gsm7_encode(text: str) -> bytes | None:
    """Unpacked septets of text, or None when a character is outside GSM 03.38."""
    out = bytearray()
    for ch in text:
        code = GSM_BASIC.get(ch)
        if code is not None:
            out.append(code)
            continue
        ext = GSM_EXTENSION.get(ch)
        if ext is None:
            return None
        out += bytes((ESC, ext))
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Unpacked septets to text. An unknown extension code reads as its basic character,
    as 03.38 asks of a receiver; a trailing lone ESC is dropped."""
    out: list[str] = []
    escaped = False
    for i, b in enumerate(data):
        if b > 0x7F:
            raise EncodingError(f"GSM 7-bit: octet {i} is 0x{b:02x}, above 0x7f")
        if escaped:
            out.append(_EXTENSION.get(b, _BASIC[b] if b != ESC else " "))
            escaped = False
        elif b == ESC:
            escaped = True
        else:
            out.append(_BASIC[b])
    return "".join(out)


def _utf16_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def coding_for(text: str) -> Coding:
    return Coding.GSM7 if all(_gsm_units(ch) for ch in text) else Coding.UCS2


def measure(text: str) -> tuple[Coding, int]:
    """(coding, length in its units): septets for GSM 7-bit, code units for UCS-2."""
    coding = coding_for(text)
    if coding is Coding.GSM7:
        return coding, sum(_gsm_units(ch) or 0 for ch in text)
    return coding, sum(_utf16_units(ch) for ch in text)


def _limits(coding: Coding) -> tuple[int, int]:
    return (SINGLE_GSM, PART_GSM) if coding is Coding.GSM7 else (SINGLE_UCS2, PART_UCS2)


def _chunks(text: str, coding: Coding) -> list[str]:
    """text cut into parts that each fit; a character (ESC pair, surrogate pair) is never cut."""
    single, per_part = _limits(coding)
    cost = (lambda ch: _gsm_units(ch) or 0) if coding is Coding.GSM7 else _utf16_units
    if sum(cost(ch) for ch in text) <= single:
        return [text]
    chunks: list[str] = []
    start = used = 0
    for i, ch in enumerate(text):
        c = cost(ch)
        if used + c > per_part:
            chunks.append(text[start:i])
            start, used = i, 0
        used += c
    chunks.append(text[start:])
    return chunks


def count_parts(text: str) -> int:
    """Parts the text is billed as (0 for an empty text)."""
    if not text:
        return 0
    return len(_chunks(text, coding_for(text)))


def concat_udh(ref: int, total: int, seq: int) -> bytes:
    """The 6-octet UDH of part seq (1..total) of a message with 8-bit reference ref."""
    if not 0 <= ref <= 0xFF:
        raise EncodingError(f"concatenation reference {ref} is outside 0..255")
    if not 1 <= seq <= total <= MAX_PARTS:
        raise EncodingError(f"part {seq} of {total}: expected 1 <= part <= total <= {MAX_PARTS}")
    return bytes((0x05, IEI_CONCAT_8, 0x03, ref, total, seq))


def _encode(chunk: str, coding: Coding) -> bytes:
    if coding is Coding.UCS2:
        return chunk.encode("utf-16-be")
    septets = gsm7_encode(chunk)
    assert septets is not None  # coding_for chose GSM 7-bit for every character
    return septets


def plan(text: str, ref: int) -> Plan:
    """The parts that carry text; ref is the concatenation reference used when it needs parts."""
    if not text:
        raise EncodingError("text: an SMS needs at least one character")
    coding, units = measure(text)
    chunks = _chunks(text, coding)
    if len(chunks) == 1:
        return Plan(coding, (_encode(text, coding),), units)
    if len(chunks) > MAX_PARTS:
        raise EncodingError(f"text: {len(chunks)} parts, more than the {MAX_PARTS} UDH allows")
    total = len(chunks)
    parts = tuple(
        concat_udh(ref, total, seq) + _encode(chunk, coding)
        for seq, chunk in enumerate(chunks, start=1)
    )
    return Plan(coding, parts, units)


def split_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """(concatenation header if any, payload) of a short_message sent with UDHI set."""
    if not short_message:
        raise EncodingError("UDH: empty short_message with UDHI set")
    udhl = short_message[0]
    if udhl + 1 > len(short_message):
        raise EncodingError(f"UDH: length {udhl} runs past the {len(short_message)}-octet message")
    header, payload = short_message[1 : udhl + 1], short_message[udhl + 1 :]
    concat: Concat | None = None
    i = 0
    while i + 2 <= len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if len(value) != length:
            raise EncodingError(f"UDH: element 0x{iei:02x} runs past the header")
        if iei == IEI_CONCAT_8 and length == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == IEI_CONCAT_16 and length == 4:
            concat = Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
        i += 2 + length
    if concat is not None and not 1 <= concat.seq <= concat.total:
        raise EncodingError(f"UDH: part {concat.seq} of {concat.total}")
    return concat, payload


def _scheme(data_coding: int) -> int:
    if data_coding & 0xF0 == 0xF0:  # message class group: bit 2 says 8-bit data, else 7-bit
        return 0x04 if data_coding & 0x04 else 0x00
    return data_coding


_CODING_NAMES = {0x00: "gsm7", 0x01: "ascii", 0x03: "latin1", 0x08: "ucs2"}


def coding_name(data_coding: int) -> str:
    """The name of a data_coding decode() reads (gsm7, ascii, latin1, ucs2), else its hex."""
    return _CODING_NAMES.get(_scheme(data_coding), f"0x{data_coding:02x}")


def decode(data_coding: int, payload: bytes) -> str:
    """The text of a payload in the SMPP data_coding it came with."""
    scheme = _scheme(data_coding)
    if scheme == 0x00:
        return gsm7_decode(payload)
    if scheme == 0x01:
        return payload.decode("ascii", errors="replace")
    if scheme == 0x03:
        return payload.decode("latin-1")
    if scheme == 0x08:
        if len(payload) % 2:
            raise EncodingError(f"UCS-2: odd length {len(payload)}")
        return payload.decode("utf-16-be", errors="replace")
    raise EncodingError(f"data_coding 0x{data_coding:02x} is not a text coding ccd reads")
