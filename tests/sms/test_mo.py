"""Inbound messages: decoded, reassembled in any order, once per part, with a timeout."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from ccd.messaging.sms.encoding import plan
from ccd.messaging.sms.mo import HeldPart, InboundSms, Reassembler
from ccd.messaging.sms.pdu import ESM_UDHI, ShortMessage, Tag

T0 = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)


def _parts(text: str, sender: str = "79161234567", ref: int = 5) -> list[ShortMessage]:
    p = plan(text, ref=ref)
    esm = ESM_UDHI if p.concatenated else 0
    return [ShortMessage(sender, "7333", part, data_coding=p.coding, esm_class=esm)
            for part in p.parts]  # fmt: skip


def _reassembler(timeout: float = 60) -> tuple[Reassembler, list[InboundSms]]:
    got: list[InboundSms] = []
    return Reassembler(got.append, timeout=timedelta(seconds=timeout)), got


def test_a_single_part_message_is_decoded_at_once() -> None:
    r, got = _reassembler()
    r.add("a", _parts("СТОП")[0], T0)
    assert got == [InboundSms("79161234567", "7333", "СТОП", 1, True, "a", T0, "ucs2")]


def test_a_long_message_is_whole_in_every_order_of_its_parts() -> None:
    text = "Запишите меня на приём в четверг после обеда, пожалуйста! 👍 " * 4
    parts = _parts(text)
    assert len(parts) == 4
    for order in itertools.permutations(range(4)):
        r, got = _reassembler()
        for i in order:
            r.add("a", parts[i], T0)
        assert [(m.text, m.parts, m.complete) for m in got] == [(text, 4, True)]
        assert r.pending == 0


def test_a_repeated_part_counts_once_and_parts_may_come_on_two_links() -> None:
    text = "x€" * 120  # GSM with extension pairs: 360 septets, 3 parts
    parts = _parts(text)
    r, got = _reassembler()
    r.add("a", parts[0], T0)
    r.add("b", parts[0], T0)
    r.add("b", parts[2], T0)
    r.add("a", parts[1], T0)
    r.add("b", parts[1], T0)  # a repeat after completion is no new message
    assert [m.text for m in got] == [text]
    other = _parts("y€" * 120)  # same sender and reference, new text: a new message
    for sm in other:
        r.add("a", sm, T0 + timedelta(seconds=1))
    assert [m.text for m in got] == [text, "y€" * 120]
    r.sweep(T0 + timedelta(minutes=2))
    assert r.pending == 0 and len(got) == 2


def test_two_senders_with_the_same_reference_do_not_mix() -> None:
    r, got = _reassembler()
    a, b = _parts("a" * 200, sender="1"), _parts("b" * 200, sender="2")
    for sm in (a[0], b[1], b[0], a[1]):
        r.add("l", sm, T0)
    assert sorted(m.text for m in got) == ["a" * 200, "b" * 200]


def test_missing_parts_deliver_what_came_after_the_timeout() -> None:
    r, got = _reassembler(timeout=30)
    parts = _parts("q" * 400)
    r.add("a", parts[0], T0)
    r.add("a", parts[2], T0 + timedelta(seconds=5))
    r.sweep(T0 + timedelta(seconds=29))
    assert got == []
    r.sweep(T0 + timedelta(seconds=30))
    assert [(m.text, m.complete, m.parts) for m in got] == [("q" * (153 + 94), False, 3)]


def test_sar_tlvs_concatenate_too() -> None:
    r, got = _reassembler()
    for seq, chunk in ((2, b"world"), (1, b"hello ")):
        tlvs = {Tag.SAR_MSG_REF_NUM: b"\x01\x02", Tag.SAR_TOTAL_SEGMENTS: b"\x02",
                Tag.SAR_SEGMENT_SEQNUM: bytes((seq,))}  # fmt: skip
        r.add("a", ShortMessage("1", "2", chunk, tlvs=tlvs), T0)
    assert [m.text for m in got] == ["hello world"]


async def test_only_what_makes_a_message_whole_waits_for_its_store() -> None:
    """A single part, or the part completing a long message, is answered when its message is
    stored (the future emit returns); earlier parts at once (None); a repeat of a part of a
    message already whole, when that message is stored."""
    stored: list[asyncio.Future[None]] = []

    def emit(sms: InboundSms) -> asyncio.Future[None]:
        stored.append(asyncio.get_running_loop().create_future())
        return stored[-1]

    r = Reassembler(emit, timeout=timedelta(seconds=60))
    assert r.add("a", _parts("ДА")[0], T0) is stored[0]
    first, second, third = _parts("Перенесите доставку на пятницу, пожалуйста. " * 4)
    assert r.add("a", third, T0) is None
    assert r.add("a", first, T0) is None
    assert r.add("b", first, T0) is None  # a repeat while the message is not whole yet
    assert r.add("a", second, T0) is stored[1]
    assert r.add("b", first, T0) is stored[1]  # its answer went on a session that ended
    assert len(stored) == 2


async def test_parts_not_yet_whole_are_held_and_restored_after_a_restart() -> None:
    """With `hold`, a part that does not complete its message is answered when `hold` has
    stored it; a new reassembler given the held parts completes the message from the rest,
    naming the parts to delete, and delivers it incomplete when the timeout from its first
    part ends."""
    held: list[HeldPart] = []
    answers: list[asyncio.Future[None]] = []

    def hold(part: HeldPart) -> asyncio.Future[None]:
        held.append(part)
        answers.append(asyncio.get_running_loop().create_future())
        return answers[-1]

    got: list[InboundSms] = []
    first = Reassembler(got.append, timeout=timedelta(seconds=60), hold=hold)
    text = "Перенесите доставку на пятницу, пожалуйста. " * 4
    one, two, three = _parts(text, ref=9)
    assert first.add("a", three, T0) is answers[0]
    assert first.add("a", one, T0 + timedelta(seconds=1)) is answers[1]
    assert first.add("a", one, T0 + timedelta(seconds=2)) is None  # a repeat: held already
    key = ("79161234567", "7333", 9, 3)
    assert [(p.key, p.seq, p.first_at, p.link) for p in held] == [(key, 3, T0, "a"),
                                                                  (key, 1, T0, "a")]  # fmt: skip

    after = Reassembler(got.append, timeout=timedelta(seconds=60), hold=hold)  # a restart
    after.restore(held)
    assert after.pending == 1
    after.add("b", two, T0 + timedelta(seconds=30))
    assert [(m.text, m.complete, m.held, m.received_at) for m in got] == [(text, True, key, T0)]

    got.clear()
    late = Reassembler(got.append, timeout=timedelta(seconds=60), hold=hold)
    late.restore(held)  # the last part never comes
    late.sweep(T0 + timedelta(seconds=59))
    assert got == []
    late.sweep(T0 + timedelta(seconds=60))
    assert [(m.complete, m.parts, m.held) for m in got] == [(False, 3, key)]
