"""SmsChannel: the parts' outcomes make one send result and their receipts one report, as a
mailing sees them; every combination as a pure mapping, then against the SMSC double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ccd.messaging.channel import OutboundMessage, Outcome, StatusReport
from ccd.messaging.sms.channel import SmsChannel, parse_provider_id, report_state, send_outcome
from ccd.messaging.sms.gateway import PartOutcome, PartStatus, SendResult
from ccd.messaging.sms.mo import InboundSms
from ccd.messaging.sms.pdu import Status
from ccd.messaging.sms.receipts import DeliveryState, message_state
from ccd.messaging.sms.settings import LinkSettings
from ccd.sim.smsc.double import ReceiptRule, SmscDouble
from tests.dialer.conftest import eventually
from tests.sms.conftest import link

A, R, U, N = PartStatus.ACCEPTED, PartStatus.REJECTED, PartStatus.UNKNOWN, PartStatus.NOT_SENT
THROTTLED, BAD_NUMBER = "ESME_RTHROTTLED", "ESME_RINVDSTADR"


def _result(*parts: tuple[PartStatus, str | None]) -> SendResult:
    return SendResult("mailing:1", "UCS2", tuple(
        PartOutcome(n, status, None if status is N else "mts",
                    f"id{n}" if status is A else None, error)
        for n, (status, error) in enumerate(parts, start=1)
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("parts", "outcome", "reason"),
    [
        ([(A, None)], Outcome.SENT, None),
        ([(A, None), (A, None), (A, None)], Outcome.SENT, None),
        ([(U, None)], Outcome.UNKNOWN, "part 1/1: no answer from mts"),
        ([(A, None), (U, None), (A, None)], Outcome.UNKNOWN, "part 2/3: no answer from mts"),
        ([(U, None), (R, BAD_NUMBER)], Outcome.UNKNOWN, "part 1/2: no answer from mts"),
        ([(N, "no bound link serves +79161234567")] * 2, Outcome.RETRY, None),
        ([(R, THROTTLED), (N, None)], Outcome.RETRY, "part 1/2: rejected (ESME_RTHROTTLED)"),
        ([(R, BAD_NUMBER)], Outcome.FAILED, "part 1/1: rejected (ESME_RINVDSTADR)"),
        ([(R, THROTTLED), (R, BAD_NUMBER)], Outcome.FAILED, None),
        ([(N, None), (R, BAD_NUMBER)], Outcome.FAILED, None),
        ([(A, None), (R, BAD_NUMBER)], Outcome.FAILED,
         "sent in part; part 2/2: rejected (ESME_RINVDSTADR)"),
        ([(A, None), (N, None)], Outcome.FAILED, "sent in part; part 2/2: not_sent"),
    ],
)  # fmt: skip
def test_the_parts_outcomes_make_one_send_result(
    parts: list[tuple[PartStatus, str | None]], outcome: Outcome, reason: str | None
) -> None:
    got = send_outcome(_result(*parts), retry_after_s=42)
    assert got.outcome is outcome
    if reason is not None:
        assert got.reason == reason
    accepted = [n for n, (s, _) in enumerate(parts, start=1) if s is A]
    if outcome is Outcome.RETRY:
        assert (got.retry_after_s, got.parts, got.provider_id) == (42, None, None)
    else:
        assert got.parts == len(parts)  # what the carrier bills is counted
        want = ",".join(f"mts:id{n}" for n in accepted) or None
        assert got.provider_id == want


D, X, E = DeliveryState.DELIVERED, DeliveryState.UNDELIVERABLE, DeliveryState.EXPIRED


@pytest.mark.parametrize(
    ("states", "report"),
    [
        ([D], ("delivered", None)),
        ([D, D, D], ("delivered", None)),
        ([D, None, D], None),  # a part still on its way
        ([D, DeliveryState.ENROUTE], None),
        ([D, X, None], ("failed", "UNDELIV")),  # a failed part decides at once
        ([DeliveryState.REJECTED], ("failed", "REJECTD")),
        ([D, DeliveryState.DELETED], ("failed", "DELETED")),
        ([E, D], ("expired", "EXPIRED")),
        ([E, None], None),  # an expiry waits: a later part may still fail outright
        ([E, X], ("failed", "UNDELIV")),
    ],
)  # fmt: skip
def test_the_parts_receipts_make_one_report(
    states: list[DeliveryState | None], report: tuple[str, str | None] | None
) -> None:
    final = message_state(states)
    assert (None if final is None else report_state(final)) == report


def test_provider_ids_name_the_link_and_the_smsc_id_of_every_part() -> None:
    assert parse_provider_id("mts:0a1,backup:77") == [("mts", "0a1"), ("backup", "77")]
    with pytest.raises(ValueError, match="expected link:id"):
        parse_provider_id("0a1")


# --- against the SMSC double ------------------------------------------------------------


class Listener:
    def __init__(self) -> None:
        self.reports: list[StatusReport] = []

    async def __call__(self, report: StatusReport) -> None:
        self.reports.append(report)

    async def wait(self, n: int) -> None:
        async def enough() -> bool:
            return len(self.reports) >= n

        await eventually(enough, 10, f"{n} reports")


@asynccontextmanager
async def _channel(
    links: list[LinkSettings], **kw: Any
) -> AsyncIterator[tuple[SmsChannel, Listener]]:
    heard = Listener()
    channel = SmsChannel(links, sweep_every=0.05, **kw)
    await channel.start(heard)
    try:
        for ln in channel.gateway.links.values():
            await ln.wait_bound(5)
        yield channel, heard
    finally:
        await channel.close()


LONG_RU = "Ваш заказ №4521 собран и ждёт вас в пункте выдачи на Тверской, 7 до пятницы. " * 2


def _msg(message_id: int, to: str, body: str) -> OutboundMessage:
    return OutboundMessage(message_id, "sms", to, body, unsubscribe_url="http://x/u/t")


async def test_a_long_message_is_sent_in_parts_and_delivered_when_every_part_is(
    smsc: SmscDouble,
) -> None:
    smsc.rules["7903"] = ReceiptRule(DeliveryState.DELIVERED, before_resp=True)
    async with _channel([link(smsc.port)]) as (channel, heard):
        long = await channel.send(_msg(7, "+79161234567", LONG_RU))
        early = await channel.send(_msg(8, "+79031234567", "Hello, your order is ready"))
        await heard.wait(2)
    assert (long.outcome, long.parts) == (Outcome.SENT, 3)
    assert long.provider_id == ",".join(f"a:{s.message_id}" for s in smsc.submits[:3])
    assert (early.outcome, early.parts) == (Outcome.SENT, 1)
    assert sorted(heard.reports, key=lambda r: r.message_id) == [
        StatusReport(7, "delivered"), StatusReport(8, "delivered"),  # 8's before its resp
    ]  # fmt: skip
    assert "".join(s.as_json()["text"] for s in smsc.submits[:3]) == LONG_RU


@pytest.mark.parametrize(
    ("state", "report"),
    [
        (DeliveryState.UNDELIVERABLE, StatusReport(1, "failed", "UNDELIV")),
        (DeliveryState.REJECTED, StatusReport(1, "failed", "REJECTD")),
        (DeliveryState.EXPIRED, StatusReport(1, "expired", "EXPIRED")),
    ],
)
async def test_a_failed_receipt_fails_the_message_with_its_state(
    smsc: SmscDouble, state: DeliveryState, report: StatusReport
) -> None:
    smsc.rules[""] = ReceiptRule(state, delay=0.05, tlv=False)  # the receipt text alone
    async with _channel([link(smsc.port)]) as (channel, heard):
        sent = await channel.send(_msg(1, "+79161234567", "a" * 200))
        await heard.wait(1)
        await asyncio.sleep(0.2)  # the second part's receipt adds no report
    assert (sent.outcome, sent.parts) == (Outcome.SENT, 2)
    assert heard.reports == [report]


async def test_no_receipt_within_the_validity_period_expires_the_message(
    smsc: SmscDouble,
) -> None:
    smsc.rules[""] = ReceiptRule(state=None)
    async with _channel([link(smsc.port)], validity=timedelta(seconds=1)) as (channel, heard):
        assert (await channel.send(_msg(3, "+79161234567", "ping"))).outcome is Outcome.SENT
        await heard.wait(1)
    assert heard.reports == [StatusReport(3, "expired", "EXPIRED")]


async def test_a_link_drop_with_submits_in_the_window_makes_them_unknown_never_resent(
    smsc: SmscDouble,
) -> None:
    smsc.hold = True  # the SMSC takes them and does not answer yet
    async with _channel([link(smsc.port, window=10)]) as (channel, heard):
        sends = [asyncio.create_task(channel.send(_msg(i, f"+7916000000{i}", "hi")))
                 for i in range(4)]  # fmt: skip

        async def all_in() -> bool:
            return len(smsc.submits) == 4

        await eventually(all_in, 5, "4 submits at the SMSC")
        smsc.hold = False
        smsc.drop()
        results = await asyncio.gather(*sends)
        assert {r.outcome for r in results} == {Outcome.UNKNOWN}
        await channel.gateway.links["a"].wait_bound(5)
        after = await channel.send(_msg(9, "+79160000009", "next"))
        await heard.wait(1)
    assert after.outcome is Outcome.SENT
    assert [s.destination for s in smsc.submits] == [f"7916000000{i}" for i in range(4)] + [
        "79160000009"
    ]  # nothing sent twice
    assert heard.reports == [StatusReport(9, "delivered")]  # none for the unknown ones


async def test_refusals_and_missing_links_fail_or_wait_as_appropriate(
    smsc: SmscDouble,
) -> None:
    async with _channel([link(smsc.port, prefixes=("+7916",), max_throttle_retries=0)]) as (
        channel, heard,
    ):  # fmt: skip
        unroutable = await channel.send(_msg(1, "+4915112345678", "hallo"))
        assert (unroutable.outcome, unroutable.reason) == (
            Outcome.FAILED, "no SMSC link serves +4915112345678",
        )  # fmt: skip
        smsc.nacks = [Status.INVDSTADR]
        refused = await channel.send(_msg(2, "+79161234567", "hi"))
        assert (refused.outcome, refused.reason) == (
            Outcome.FAILED, "part 1/1: rejected (ESME_RINVDSTADR)",
        )  # fmt: skip
        smsc.nacks = [Status.THROTTLED]
        throttled = await channel.send(_msg(3, "+79161234567", "hi"))
        assert (throttled.outcome, throttled.retry_after_s) == (Outcome.RETRY, 60.0)
        smsc.accounts["ccd1"] = "changed"  # the link stays down: its rebinds are refused
        smsc.drop()

        async def down() -> bool:
            return not channel.gateway.links["a"].bound

        await eventually(down, 3, "link down")
        nobody = await channel.send(_msg(4, "+79161234567", "hi"))
        assert nobody.outcome is Outcome.RETRY
        assert nobody.reason == "part 1/1: not_sent (no bound link serves +79161234567)"
        assert channel.link_states()["a"] in ("disconnected", "connecting")
    assert smsc.submits == []  # nacked submits are not taken
    assert heard.reports == []


async def test_receipts_after_a_restart_are_matched_from_the_stored_ids(
    smsc: SmscDouble,
) -> None:
    smsc.rules[""] = ReceiptRule(DeliveryState.DELIVERED, delay=0.5)
    async with _channel([link(smsc.port)]) as (channel, heard):
        sent = await channel.send(_msg(5, "+79161234567", "b" * 200))
    assert sent.outcome is Outcome.SENT and sent.provider_id is not None
    assert heard.reports == []  # closed before the receipts: the SMSC keeps them

    async def queued() -> bool:
        return len(smsc.queued.get("ccd1", [])) == 2

    await eventually(queued, 5, "2 receipts queued for the next bind")
    heard2 = Listener()
    again = SmsChannel([link(smsc.port)], sweep_every=0.05)
    assert again.resume([(5, sent.provider_id, datetime.now(UTC))]) == 1
    await again.start(heard2)
    try:
        await heard2.wait(1)
    finally:
        await again.close()
    assert heard2.reports == [StatusReport(5, "delivered")]


async def test_customers_messages_go_to_the_inbound_handler(smsc: SmscDouble) -> None:
    got: list[InboundSms] = []

    async def handler(sms: InboundSms) -> None:
        got.append(sms)

    async with _channel([link(smsc.port)]) as (channel, reports):
        smsc.inject_mo("79161234567", "7333", "СТОП")  # no handler yet: logged and dropped

        async def answered() -> bool:  # at once, as nothing will store it
            return bool(smsc.state()["acked"] == 1)

        await eventually(answered, 5, "the dropped message answered")
        channel.set_inbound(handler)
        smsc.inject_mo("79161234567", "7333", LONG_RU, order=[2, 3, 1])

        async def heard() -> bool:
            return bool(got)

        await eventually(heard, 5, "the inbound message")
        await eventually(_all_answered(smsc, 4), 5, "the 3 parts answered too")
        reply = await channel.send_text("+79161234567", "Спасибо, записали вас", "inbox:1")
        assert (reply.outcome, reply.parts) == (Outcome.SENT, 1)

        async def receipted() -> bool:
            return smsc.receipts_sent == 1

        await eventually(receipted, 5, "the reply's receipt")
        await asyncio.sleep(0.1)
    assert [(m.sender, m.text, m.parts) for m in got] == [("79161234567", LONG_RU, 3)]
    assert smsc.submits[-1].as_json()["text"] == "Спасибо, записали вас"
    assert reports.reports == []  # a reply's receipt is no mailing message's report


def _all_answered(smsc: SmscDouble, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        state = smsc.state()
        return bool(state["acked"] == n and state["unacked"] == 0)

    return check
