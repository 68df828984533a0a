"""The SMPP 3.4 codec: bodies round-trip, broken input is a PduError naming the field."""

from __future__ import annotations

import pytest

from ccd.messaging.sms.pdu import (
    Bind,
    Command,
    Pdu,
    PduError,
    ShortMessage,
    Tag,
    decode_id,
    decode_pdu,
    encode_id,
    frame_length,
    status_name,
)


def test_a_bind_round_trips_with_the_3_4_interface_version() -> None:
    bind = Bind("ccd", "secret", "VMA", 1, 1, "")
    body = bind.encode()
    assert body == b"ccd\x00secret\x00VMA\x00\x34\x01\x01\x00"
    assert Bind.decode(body) == bind


def test_a_pdu_header_carries_length_command_status_sequence() -> None:
    raw = Pdu(Command.SUBMIT_SM_RESP, 0, 7, encode_id("abc")).encode()
    assert raw[:16] == bytes.fromhex("00000014 80000004 00000000 00000007".replace(" ", ""))
    assert frame_length(raw[:4]) == 20
    pdu = decode_pdu(raw)
    assert pdu.is_response and decode_id(pdu.body, "submit_sm_resp") == "abc"


def test_a_short_message_round_trips_with_tlvs() -> None:
    sm = ShortMessage(
        source_addr="CCD", destination_addr="79161234567", short_message=b"\x00\x01hi",
        data_coding=8, esm_class=0x40, registered_delivery=1, validity_period="000001000000000R",
        tlvs={Tag.RECEIPTED_MESSAGE_ID: b"ab\x00", Tag.MESSAGE_STATE: b"\x02"},
    )  # fmt: skip
    assert ShortMessage.decode(sm.encode()) == sm


def test_message_payload_stands_in_for_an_empty_short_message() -> None:
    sm = ShortMessage("a", "b", b"", tlvs={Tag.MESSAGE_PAYLOAD: b"long text"})
    assert ShortMessage.decode(sm.encode()).short_message == b"long text"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"ccd", "bind.system_id: no NUL"),
        (b"a" * 20 + b"\x00", "system_id: longer than 15"),
        (b"ccd\x00pw\x00\x00", "interface_version: body ends early"),
    ],
)
def test_a_broken_bind_names_the_field(body: bytes, why: str) -> None:
    with pytest.raises(PduError, match=why):
        Bind.decode(body)


def test_a_short_message_longer_than_its_body_is_an_error() -> None:
    body = ShortMessage("a", "b", b"hello").encode()
    with pytest.raises(PduError, match="short_message: 5 octets announced, 2 left"):
        ShortMessage.decode(body[:-3])
    with pytest.raises(PduError, match="stray octets"):
        ShortMessage.decode(body + b"\x00\x01")
    with pytest.raises(PduError, match="more than 254"):
        ShortMessage("a", "b", b"x" * 255).encode()


def test_bad_lengths_and_status_names() -> None:
    with pytest.raises(PduError, match="command_length 8"):
        frame_length(b"\x00\x00\x00\x08")
    with pytest.raises(PduError, match="command_length 1000000"):
        frame_length((1000000).to_bytes(4, "big"))
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0x1234) == "0x00001234"
