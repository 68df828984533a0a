"""Receipts read from text or TLVs, matched by id in any order, expired after validity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ccd.messaging.sms.pdu import ESM_RECEIPT, ShortMessage, Tag
from ccd.messaging.sms.receipts import (
    DeliveryState,
    PartKey,
    Receipt,
    ReceiptReport,
    ReceiptTracker,
    id_variants,
    message_state,
    read_receipt,
)

NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
TEXT = (
    "id:{id} sub:001 dlvrd:001 submit date:2612030359 done date:2612030400 stat:{stat} err:000 "
    "text:hi"
)


def _receipt(text: str, **tlvs: bytes) -> ShortMessage:
    tags = {Tag[k.upper()]: v for k, v in tlvs.items()}
    return ShortMessage("79161234567", "CCD", text.encode(), esm_class=ESM_RECEIPT, tlvs=tags)


@pytest.mark.parametrize(
    ("stat", "state"),
    [("DELIVRD", DeliveryState.DELIVERED), ("UNDELIV", DeliveryState.UNDELIVERABLE),
     ("EXPIRED", DeliveryState.EXPIRED), ("REJECTD", DeliveryState.REJECTED),
     ("DELETED", DeliveryState.DELETED), ("UNKNOWN", DeliveryState.UNKNOWN),
     ("ACCEPTD", DeliveryState.ACCEPTED), ("ENROUTE", DeliveryState.ENROUTE)],
)  # fmt: skip
def test_the_receipt_text_gives_id_state_and_done_date(stat: str, state: DeliveryState) -> None:
    report = read_receipt(_receipt(TEXT.format(id="00ab12", stat=stat)), NOW)
    assert report == ReceiptReport("00ab12", state, datetime(2026, 12, 3, 4, 0, tzinfo=UTC), "000")


@pytest.mark.parametrize(
    ("done", "at"),
    [("2612030327", datetime(2026, 12, 3, 3, 27, tzinfo=UTC)),
     ("261203032759", datetime(2026, 12, 3, 3, 27, 59, tzinfo=UTC)),
     ("2613030327", NOW), ("26120303", NOW), ("", NOW)],
)  # fmt: skip
def test_the_done_date_is_read_by_its_length(done: str, at: datetime) -> None:
    report = read_receipt(_receipt(f"id:1 done date:{done} stat:DELIVRD"), NOW)
    assert report is not None and report.at == at


def test_tlvs_win_over_the_text() -> None:
    sm = _receipt(TEXT.format(id="1", stat="UNDELIV"), receipted_message_id=b"ff\x00",
                  message_state=b"\x02")  # fmt: skip
    report = read_receipt(sm, NOW)
    assert report is not None
    assert (report.message_id, report.state) == ("ff", DeliveryState.DELIVERED)


def test_a_receipt_without_id_or_state_is_not_read() -> None:
    assert read_receipt(_receipt("stat:DELIVRD"), NOW) is None
    assert read_receipt(_receipt("id:12 stat:WHATEVER"), NOW) is None
    report = read_receipt(_receipt("id:12 stat:delivrd"), NOW)  # no date: now
    assert report is not None and report.at == NOW


def test_hex_and_decimal_spellings_of_one_id() -> None:
    assert id_variants("ff") == ("ff", "255")
    assert "ff" in id_variants("255") and "597" in id_variants("255")
    assert id_variants("x-1") == ("x-1",)


def _tracker() -> tuple[ReceiptTracker, list[Receipt]]:
    got: list[Receipt] = []
    return ReceiptTracker(got.append, hold=timedelta(minutes=1)), got


def test_a_receipt_after_the_resp_is_matched() -> None:
    tracker, got = _tracker()
    tracker.sent("a", "10", PartKey("m1", 1, 1), NOW + timedelta(days=1))
    tracker.receipt("a", ReceiptReport("10", DeliveryState.DELIVERED, NOW), NOW)
    assert got == [Receipt("m1", 1, 1, "a", "10", DeliveryState.DELIVERED, NOW)]
    assert tracker.pending == 0


def test_a_receipt_before_the_resp_is_held_until_the_id_is_known() -> None:
    tracker, got = _tracker()
    tracker.receipt("a", ReceiptReport("10", DeliveryState.DELIVERED, NOW), NOW)
    assert got == []
    tracker.sent("a", "10", PartKey("m1", 2, 3), NOW + timedelta(days=1))
    assert got == [Receipt("m1", 2, 3, "a", "10", DeliveryState.DELIVERED, NOW)]
    assert tracker.pending == 0


def test_ids_are_per_link_and_a_decimal_receipt_matches_a_hex_resp() -> None:
    tracker, got = _tracker()
    tracker.sent("a", "ff", PartKey("m1", 1, 1), NOW + timedelta(days=1))
    tracker.receipt("b", ReceiptReport("ff", DeliveryState.DELIVERED, NOW), NOW)
    assert got == []  # another SMSC's id space
    tracker.receipt("a", ReceiptReport("255", DeliveryState.DELIVERED, NOW), NOW)
    assert [r.ref for r in got] == ["m1"]


def test_an_intermediate_state_keeps_the_part_waiting() -> None:
    tracker, got = _tracker()
    tracker.sent("a", "1", PartKey("m", 1, 1), NOW + timedelta(days=1))
    tracker.receipt("a", ReceiptReport("1", DeliveryState.ENROUTE, NOW), NOW)
    tracker.receipt("a", ReceiptReport("1", DeliveryState.DELIVERED, NOW), NOW)
    assert [r.state for r in got] == [DeliveryState.ENROUTE, DeliveryState.DELIVERED]


def test_no_receipt_within_validity_is_expired_and_stale_early_receipts_go() -> None:
    tracker, got = _tracker()
    tracker.sent("a", "1", PartKey("m", 1, 1), NOW + timedelta(hours=1))
    tracker.receipt("a", ReceiptReport("999", DeliveryState.DELIVERED, NOW), NOW)
    tracker.sweep(NOW + timedelta(minutes=59))
    assert got == []
    tracker.sweep(NOW + timedelta(hours=1))
    assert [(r.ref, r.state) for r in got] == [("m", DeliveryState.EXPIRED)]
    tracker.sent("a", "999", PartKey("late", 1, 1), NOW + timedelta(days=1))
    assert len(got) == 1  # the early receipt was dropped after the hold
    assert tracker.pending == 1


def test_a_long_message_state_from_its_parts() -> None:
    d, u = DeliveryState.DELIVERED, DeliveryState.UNDELIVERABLE
    assert message_state([d, d, d]) is d
    assert message_state([d, None, d]) is None
    assert message_state([d, u, None]) is u
    assert message_state([DeliveryState.ENROUTE]) is None
    assert message_state([]) is None
