"""AMI blocks: the `Key: Value` lines Asterisk writes, and the channel fields of call events."""

from __future__ import annotations

from ccd.sim.asterisk.model import Channel

Block = list[tuple[str, str]]
STATE_NUM = {"Down": 0, "Rsrvd": 1, "OffHook": 2, "Dialing": 3, "Ring": 4, "Ringing": 5,
             "Up": 6, "Busy": 7}


def render(block: Block) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in block) + "\r\n").encode()


def cid(value: str) -> str:
    return value or "<unknown>"


def channel_fields(ch: Channel, prefix: str = "") -> Block:
    linked = ch.peer.uniqueid if ch.origin == "local2" and ch.peer is not None else ch.linkedid
    return [
        (f"{prefix}Channel", ch.name), (f"{prefix}ChannelState", str(STATE_NUM.get(ch.state, 0))),
        (f"{prefix}ChannelStateDesc", ch.state), (f"{prefix}CallerIDNum", cid(ch.caller[1])),
        (f"{prefix}CallerIDName", cid(ch.caller[0])),
        (f"{prefix}ConnectedLineNum", cid(ch.connected[1])),
        (f"{prefix}ConnectedLineName", cid(ch.connected[0])), (f"{prefix}Language", "en"),
        (f"{prefix}AccountCode", ""), (f"{prefix}Context", ch.context),
        (f"{prefix}Exten", ch.exten), (f"{prefix}Priority", str(ch.priority)),
        (f"{prefix}Uniqueid", ch.uniqueid or ch.id),
        (f"{prefix}Linkedid", linked or ch.uniqueid or ch.id),
    ]
