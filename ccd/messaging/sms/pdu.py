"""SMPP 3.4 PDUs on the standard library: header framing, the bodies ccd speaks, TLVs.

Only what an ESME and our SMSC double exchange: bind_* and their responses, submit_sm and
deliver_sm (one body layout, `ShortMessage`), their responses carrying a message_id,
enquire_link, unbind and generic_nack. Decoding validates lengths and C-strings and raises
PduError naming the field, so a broken peer gets a generic_nack, never a crash.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024  # far above any PDU SMPP 3.4 allows; a longer length is a broken peer
INTERFACE_VERSION = 0x34
RESP = 0x80000000


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


BINDS = (Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER)


class Status(IntEnum):
    OK = 0x00
    INVMSGLEN = 0x01
    INVCMDLEN = 0x02
    INVCMDID = 0x03
    INVBNDSTS = 0x04
    ALYBND = 0x05
    SYSERR = 0x08
    INVDSTADR = 0x0B
    BINDFAIL = 0x0D
    INVPASWD = 0x0E
    INVSYSID = 0x0F
    MSGQFUL = 0x14
    THROTTLED = 0x58
    X_T_APPN = 0x64  # the ESME cannot take it now: the SMSC delivers it again later
    DELIVERYFAILURE = 0xFE


def status_name(code: int) -> str:
    try:
        return f"ESME_R{Status(code).name}"
    except ValueError:
        return f"0x{code:08x}"


class Tag(IntEnum):
    """The TLVs ccd reads or writes."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


ESM_UDHI = 0x40
ESM_RECEIPT = 0x04  # message type bits (0x3C) of a deliver_sm that is an SMSC delivery receipt
ESM_TYPE_MASK = 0x3C


class PduError(ValueError):
    """A PDU that does not decode; status is what to answer in the generic_nack."""

    def __init__(self, message: str, status: Status = Status.INVCMDLEN) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Pdu:
    command: int
    status: int
    sequence: int
    body: bytes = b""

    def encode(self) -> bytes:
        length = HEADER.size + len(self.body)
        return HEADER.pack(length, self.command, self.status, self.sequence) + self.body

    @property
    def is_response(self) -> bool:
        return bool(self.command & RESP)


def frame_length(header: bytes) -> int:
    """The whole PDU's length from its first 4 octets, checked."""
    (length,) = struct.unpack_from(">I", header)
    if not HEADER.size <= length <= MAX_PDU:
        raise PduError(f"command_length {length} is outside {HEADER.size}..{MAX_PDU}")
    return int(length)


def decode_pdu(data: bytes) -> Pdu:
    length, command, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} but {len(data)} octets")
    return Pdu(command, status, sequence, data[HEADER.size :])


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def cstring(self, name: str, max_len: int) -> str:
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise PduError(f"{self.what}.{name}: no NUL terminator")
        if end - self.pos > max_len - 1:
            raise PduError(f"{self.what}.{name}: longer than {max_len - 1} octets")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        return raw.decode("latin-1")

    def u8(self, name: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"{self.what}.{name}: body ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def octets(self, name: str, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"{self.what}.{name}: {n} octets announced, {self.left} left")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def tlvs(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        while self.left:
            if self.left < 4:
                raise PduError(f"{self.what}: {self.left} stray octets after the TLVs")
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            out[tag] = self.octets(f"tlv 0x{tag:04x}", length)
        return out


def _cstr(value: str, name: str, max_len: int) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) > max_len - 1 or b"\x00" in raw:
        raise PduError(f"{name}: {value!r} is longer than {max_len - 1} octets or has a NUL")
    return raw + b"\x00"


def _tlvs(tlvs: dict[int, bytes]) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(v)) + v for tag, v in tlvs.items())


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str
    system_type: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def encode(self) -> bytes:
        return (
            _cstr(self.system_id, "system_id", 16)
            + _cstr(self.password, "password", 9)
            + _cstr(self.system_type, "system_type", 13)
            + bytes((INTERFACE_VERSION, self.addr_ton, self.addr_npi))
            + _cstr(self.address_range, "address_range", 41)
        )

    @classmethod
    def decode(cls, body: bytes) -> Bind:
        r = _Reader(body, "bind")
        system_id = r.cstring("system_id", 16)
        password = r.cstring("password", 9)
        system_type = r.cstring("system_type", 13)
        r.u8("interface_version")
        ton, npi = r.u8("addr_ton"), r.u8("addr_npi")
        return cls(system_id, password, system_type, ton, npi, r.cstring("address_range", 41))


def encode_id(message_id: str) -> bytes:
    """Body of bind_*_resp (system_id) and submit_sm_resp/deliver_sm_resp (message_id)."""
    return _cstr(message_id, "message_id", 65)


def decode_id(body: bytes, what: str) -> str:
    """The C-string that opens a response body; an empty body (allowed on error) is ''."""
    if not body:
        return ""
    return _Reader(body, what).cstring("id", 65)


@dataclass(frozen=True)
class ShortMessage:
    """The body of submit_sm and deliver_sm (same layout in SMPP 3.4)."""

    source_addr: str
    destination_addr: str
    short_message: bytes
    data_coding: int = 0
    esm_class: int = 0
    registered_delivery: int = 0
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        if len(self.short_message) > 254:
            raise PduError(f"short_message: {len(self.short_message)} octets, more than 254")
        return b"".join((
            _cstr(self.service_type, "service_type", 6),
            bytes((self.source_addr_ton, self.source_addr_npi)),
            _cstr(self.source_addr, "source_addr", 21),
            bytes((self.dest_addr_ton, self.dest_addr_npi)),
            _cstr(self.destination_addr, "destination_addr", 21),
            bytes((self.esm_class, self.protocol_id, self.priority_flag)),
            _cstr(self.schedule_delivery_time, "schedule_delivery_time", 17),
            _cstr(self.validity_period, "validity_period", 17),
            bytes((self.registered_delivery, 0, self.data_coding, 0, len(self.short_message))),
            self.short_message,
            _tlvs(self.tlvs),
        ))  # fmt: skip

    @classmethod
    def decode(cls, body: bytes, what: str = "submit_sm") -> ShortMessage:
        r = _Reader(body, what)
        service_type = r.cstring("service_type", 6)
        src_ton, src_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
        source = r.cstring("source_addr", 21)
        dst_ton, dst_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
        dest = r.cstring("destination_addr", 21)
        esm, pid, prio = r.u8("esm_class"), r.u8("protocol_id"), r.u8("priority_flag")
        schedule = r.cstring("schedule_delivery_time", 17)
        validity = r.cstring("validity_period", 17)
        registered = r.u8("registered_delivery")
        r.u8("replace_if_present_flag")
        coding = r.u8("data_coding")
        r.u8("sm_default_msg_id")
        text = r.octets("short_message", r.u8("sm_length"))
        tlvs = r.tlvs()
        if not text and Tag.MESSAGE_PAYLOAD in tlvs:
            text = tlvs.pop(Tag.MESSAGE_PAYLOAD)
        return cls(
            source_addr=source, destination_addr=dest, short_message=text, data_coding=coding,
            esm_class=esm, registered_delivery=registered, service_type=service_type,
            source_addr_ton=src_ton, source_addr_npi=src_npi, dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi, protocol_id=pid, priority_flag=prio,
            schedule_delivery_time=schedule, validity_period=validity, tlvs=tlvs,
        )  # fmt: skip
