"""AMI client against a small AMI server that answers with blocks recorded from Asterisk 22."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from ccd.config import AsteriskNode
from ccd.telephony.ami import AmiClient, AmiMessage, encode_action
from ccd.telephony.errors import AmiAuthError, AmiError, PbxTimeout, PbxUnavailable
from ccd.telephony.pbx import LinkStatus
from tests.telephony.ari_replay import load
from tests.telephony.waiting import eventually

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def _recorded_answers(transcript: str, action_id: str) -> list[str]:
    """The ami-in blocks a real Asterisk sent for one recorded ActionID, in order."""
    return [
        s["text"]
        for s in load(transcript)["steps"]
        if s["dir"] == "ami-in" and f"ActionID: {action_id}\r\n" in s["text"]
    ]


def _recorded_action_ids(transcript: str, action: str) -> list[str]:
    out = []
    for s in load(transcript)["steps"]:
        if s["dir"] == "ami-out" and s["text"].startswith(f"Action: {action}\r\n"):
            out.append(AmiMessage.parse(s["text"]).get("ActionID"))
    return out


class FakeAmi:
    """Login, Ping, and recorded answers for CoreShowChannels/QueueStatus/Originate."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.half_open = False
        self.scripts: dict[str, list[list[str]]] = {}
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    def script(self, action: str, transcript: str, index: int = 0) -> None:
        rec_id = _recorded_action_ids(transcript, action)[index]
        blocks = _recorded_answers(transcript, rec_id)
        self.scripts.setdefault(action, []).append(
            [b.replace(f"ActionID: {rec_id}\r\n", "ActionID: {id}\r\n") for b in blocks]
        )

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.transport.abort()

    def drop(self) -> None:
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        writer.write(BANNER)
        try:
            while True:
                msg = AmiMessage.parse((await reader.readuntil(b"\r\n\r\n")).decode())
                action, aid = msg.get("Action"), msg.get("ActionID")
                self.counts[action] += 1
                if self.half_open:
                    continue
                if action == "Login":
                    if msg.get("Secret") != "ccdsecret":
                        await asyncio.sleep(0.05)
                        writer.write(
                            f"Response: Error\r\nActionID: {aid}\r\n"
                            "Message: Authentication failed\r\n\r\n".encode()
                        )
                        await writer.drain()
                        writer.close()
                        return
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\n"
                        "Message: Authentication accepted\r\n\r\n".encode()
                    )
                    writer.write(
                        b"Event: FullyBooted\r\nPrivilege: system,all\r\n"
                        b"Status: Fully Booted\r\n\r\n"
                    )
                elif action == "Ping":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode()
                    )
                elif action in self.scripts and self.scripts[action]:
                    for block in self.scripts[action].pop(0):
                        writer.write(block.replace("{id}", aid).encode())
                elif action == "Originate":
                    # queued, then never an OriginateResponse: the test drops the link
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\n"
                        "Message: Originate successfully queued\r\n\r\n".encode()
                    )
                else:
                    writer.write(
                        f"Response: Error\r\nActionID: {aid}\r\nMessage: Invalid/"
                        f"unknown command: {action}.\r\n\r\n".encode()
                    )
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


@pytest.fixture
async def fake_ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


def _client(fake: FakeAmi, secret: str = "ccdsecret", **kw: float) -> AmiClient:
    node = AsteriskNode(name="pbx1", ami_port=fake.port, ami_secret=secret)
    return AmiClient(node, backoff_initial_s=0.02, backoff_max_s=0.1, **kw)


async def test_bad_login_fails_start_naming_the_node(fake_ami: FakeAmi) -> None:
    client = _client(fake_ami, secret="wrong")
    with pytest.raises(AmiAuthError, match="pbx1.*Authentication failed"):
        await client.start()
    await asyncio.sleep(0.2)
    assert fake_ami.connections == 1  # no reconnect loop after a refused login


async def test_eventlist_actions_return_their_items(fake_ami: FakeAmi) -> None:
    fake_ami.script("CoreShowChannels", "33-ami-coreshowchannels")
    fake_ami.script("QueueStatus", "34-ami-queue", 1)
    client = _client(fake_ami)
    await client.start()
    try:
        channels = await client.action_list("CoreShowChannels")
        assert [c.event for c in channels] == ["CoreShowChannel"] * 4
        queue = await client.action_list("QueueStatus", Queue="ccd-queue")
        assert {q.event for q in queue} <= {"QueueParams", "QueueMember", "QueueEntry"}
        assert queue and queue[0].event == "QueueParams"
        with pytest.raises(AmiError, match="Invalid/unknown command"):
            await client.action("NoSuchAction")
    finally:
        await client.close()


async def test_recorded_originate_failure_returns_originate_response(fake_ami: FakeAmi) -> None:
    fake_ami.script("Originate", "32-ami-originate-failures", 2)  # 2101 Busy(): Reason 5
    client = _client(fake_ami)
    await client.start()
    try:
        resp = await client.originate("Local/2101@sim-pstn", application="Wait", data="3")
        assert (resp.event, resp.get("Response"), resp.get("Reason")) == (
            "OriginateResponse",
            "Failure",
            "5",
        )
    finally:
        await client.close()


async def test_originate_is_never_resent_after_reconnect(fake_ami: FakeAmi) -> None:
    client = _client(fake_ami)
    await client.start()
    try:
        pending = asyncio.ensure_future(
            client.originate("Local/1001@sim-pstn", application="Wait", data="3")
        )
        await eventually(lambda: fake_ami.counts["Originate"] > 0)
        fake_ami.drop()
        with pytest.raises(PbxUnavailable, match="may have run"):
            await pending
        await eventually(lambda: client.status is LinkStatus.CONNECTED)
        await client.action("Ping")  # the new connection works...
        await asyncio.sleep(0.1)
        assert fake_ami.counts["Originate"] == 1  # ... and nothing was sent again
        assert fake_ami.connections == 2
    finally:
        await client.close()


async def test_half_open_connection_is_dropped_by_the_ping_watchdog(fake_ami: FakeAmi) -> None:
    client = _client(fake_ami, ping_interval_s=0.1, ping_timeout_s=0.2)
    await client.start()
    try:
        fake_ami.half_open = True
        await eventually(lambda: client.status is not LinkStatus.CONNECTED)
        assert fake_ami.counts["Ping"] >= 1
        fake_ami.half_open = False
        await eventually(lambda: client.status is LinkStatus.CONNECTED)
        assert fake_ami.connections >= 2
    finally:
        await client.close()


async def test_action_timeout_and_not_connected(fake_ami: FakeAmi) -> None:
    client = _client(fake_ami, ping_interval_s=60)
    with pytest.raises(PbxUnavailable):
        await client.action("Ping")
    await client.start()
    try:
        fake_ami.half_open = True
        with pytest.raises(PbxTimeout, match="may have run"):
            await client.action("Hangup", timeout_s=0.1, Channel="x")
    finally:
        await client.close()


def test_line_breaks_in_values_are_refused() -> None:
    with pytest.raises(ValueError, match="Channel"):
        encode_action("Hangup", "1", [("Channel", "x\r\nAction: Originate")])
    assert encode_action("Ping", "7", []) == b"Action: Ping\r\nActionID: 7\r\n\r\n"


def test_repeated_keys_are_kept() -> None:
    msg = AmiMessage.parse("Event: X\r\nChanVariable: a=1\r\nChanVariable: b=2\r\n\r\n")
    assert msg.get("ChanVariable") == "a=1" and msg.get_all("ChanVariable") == ["a=1", "b=2"]
