"""The SMS gateway against the SMSC double: parts, receipts, routes and failover, MO."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from ccd.messaging.sms.gateway import PartStatus, SmsGateway, relative_validity
from ccd.messaging.sms.mo import InboundSms
from ccd.messaging.sms.receipts import DeliveryState, Receipt
from ccd.messaging.sms.settings import LinkSettings
from ccd.sim.smsc.double import ReceiptRule, SmscDouble
from tests.dialer.conftest import eventually
from tests.sms.conftest import link


class Heard:
    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.inbound: list[InboundSms] = []

    def until(self, check: Callable[[Heard], bool]) -> Callable[[], Any]:
        async def run() -> bool:
            return check(self)

        return run


@asynccontextmanager
async def _gateway(links: list[LinkSettings], **kw: Any) -> AsyncIterator[tuple[SmsGateway, Heard]]:
    heard = Heard()
    gw = SmsGateway(links, on_receipt=heard.receipts.append, on_inbound=heard.inbound.append,
                    sweep_every=0.1, **kw)  # fmt: skip
    gw.start()
    try:
        for ln in gw.links.values():
            await ln.wait_bound(5)
        yield gw, heard
    finally:
        await gw.close()


LONG_RU = "Ваш заказ №4521 собран и ждёт вас в пункте выдачи на Тверской, 7 до пятницы. " * 2


async def test_a_long_message_goes_in_parts_and_every_part_gets_its_receipt(
    smsc: SmscDouble,
) -> None:
    async with _gateway([link(smsc.port)]) as (gw, heard):
        result = await gw.send("+79161234567", LONG_RU, "msg-1")
        assert result.coding == "UCS2" and len(result.parts) == 3
        assert all(p.status is PartStatus.ACCEPTED for p in result.parts)
        await eventually(heard.until(lambda h: len(h.receipts) == 3), 5, "3 receipts")
    assert sorted((r.ref, r.part, r.parts, r.state) for r in heard.receipts) == [
        ("msg-1", n, 3, DeliveryState.DELIVERED) for n in (1, 2, 3)
    ]
    assert {r.message_id for r in heard.receipts} == {p.message_id for p in result.parts}
    got = [s.as_json() for s in smsc.submits]
    assert [g["concat"]["seq"] for g in got] == [1, 2, 3]
    assert "".join(g["text"] for g in got) == LONG_RU
    assert all(s.registered_delivery == 1 for s in smsc.submits)


async def test_receipts_before_their_resp_and_text_only_receipts_are_matched(
    smsc: SmscDouble,
) -> None:
    smsc.rules["7916"] = ReceiptRule(DeliveryState.DELIVERED, before_resp=True)
    smsc.rules["7903"] = ReceiptRule(DeliveryState.UNDELIVERABLE, tlv=False, delay=0.1)
    async with _gateway([link(smsc.port)]) as (gw, heard):
        await gw.send("+79161234567", "a" * 300, "early")
        await gw.send("+79031234567", "Hi {there}", "late")
        await eventually(heard.until(lambda h: len(h.receipts) == 3), 5, "3 receipts")
    states = sorted((r.ref, r.part, r.state.value) for r in heard.receipts)
    assert states == [("early", 1, "delivered"), ("early", 2, "delivered"),
                      ("late", 1, "undeliverable")]  # fmt: skip


async def test_no_receipt_within_validity_expires_the_part(smsc: SmscDouble) -> None:
    smsc.rules[""] = ReceiptRule(state=None)
    async with _gateway([link(smsc.port)], validity=timedelta(seconds=1)) as (gw, heard):
        await gw.send("+79161234567", "ping", "v")
        await eventually(heard.until(lambda h: bool(h.receipts)), 5, "expiry")
    assert [(r.ref, r.state) for r in heard.receipts] == [("v", DeliveryState.EXPIRED)]
    assert smsc.submits[0].as_json()["text"] == "ping"


async def test_routes_by_prefix_and_fails_over_to_the_next_link(smsc: SmscDouble) -> None:
    links = [link(smsc.port, "mts", "ccd1", prefixes=("+7916",)),
             link(smsc.port, "beeline", "ccd3", prefixes=("+7903",)),
             link(smsc.port, "backup", "ccd2", prefixes=("+79",))]  # fmt: skip
    async with _gateway(links) as (gw, heard):
        a = await gw.send("+79160000001", "one", "r1")
        b = await gw.send("+79030000002", "two", "r2")
        assert (a.parts[0].link, b.parts[0].link) == ("mts", "beeline")
        smsc.accounts["ccd1"] = "changed"  # mts stays down: its rebinds are refused
        smsc.drop("ccd1")
        await eventually(heard.until(lambda h: not gw.links["mts"].bound), 3, "mts down")
        c = await gw.send("+79160000003", "three", "r3")
        assert c.parts[0].status is PartStatus.ACCEPTED and c.parts[0].link == "backup"
        await eventually(heard.until(lambda h: len(h.receipts) == 3), 5, "3 receipts")
        smsc.accounts["ccd1"] = "secret1"
        await gw.links["mts"].wait_bound(5)
        d = await gw.send("+79160000004", "four", "r4")
        assert d.parts[0].link == "mts"  # back on the preferred link
    assert [(s.system_id, s.destination) for s in smsc.submits] == [
        ("ccd1", "79160000001"), ("ccd3", "79030000002"), ("ccd2", "79160000003"),
        ("ccd1", "79160000004"),
    ]  # fmt: skip


async def test_no_bound_link_means_not_sent_and_nothing_reaches_the_smsc(
    smsc: SmscDouble,
) -> None:
    async with _gateway([link(smsc.port, prefixes=("+7916",))]) as (gw, heard):
        other = await gw.send("+4915112345678", "hallo", "x")
        assert other.parts[0].status is PartStatus.NOT_SENT
        smsc.accounts["ccd1"] = "changed"
        smsc.drop()
        await eventually(heard.until(lambda h: not gw.links["a"].bound), 3, "link down")
        down = await gw.send("+79161234567", "hi", "y")
        assert down.parts[0].status is PartStatus.NOT_SENT
    assert smsc.submits == []


async def test_mo_messages_are_decoded_and_long_ones_reassembled_in_any_order(
    smsc: SmscDouble,
) -> None:
    long_gsm = "Please book me for Thursday {after lunch} at the Tverskaya office. " * 4
    async with _gateway([link(smsc.port)]) as (gw, heard):
        smsc.inject_mo("79161234567", "7333", "СТОП")
        smsc.inject_mo("79161234567", "7333", long_gsm, order=[2, 1, 2])  # part 2 repeated
        smsc.inject_mo("79031112233", "7333", LONG_RU, order=[3, 1, 2], ref=7)
        await eventually(heard.until(lambda h: len(h.inbound) == 3), 5, "3 whole messages")
        await asyncio.sleep(0.3)
    assert sorted((m.sender, m.text, m.parts, m.complete) for m in heard.inbound) == [
        ("79031112233", LONG_RU, 3, True),
        ("79161234567", long_gsm, 2, True),  # once, though part 2 came twice
        ("79161234567", "СТОП", 1, True),
    ]


async def test_an_incomplete_mo_is_delivered_after_the_timeout(smsc: SmscDouble) -> None:
    async with _gateway([link(smsc.port)], mo_timeout=timedelta(seconds=0.5)) as (gw, heard):
        smsc.inject_mo("79161234567", "7333", "z" * 400, order=[1, 3])
        await eventually(heard.until(lambda h: bool(h.inbound)), 5, "incomplete MO")
    [m] = heard.inbound
    assert (m.complete, m.parts, m.text) == (False, 3, "z" * (153 + 94))


def test_validity_is_written_as_smpp_relative_time() -> None:
    assert relative_validity(timedelta(hours=24)) == "000001000000000R"
    assert relative_validity(timedelta(hours=49, minutes=3, seconds=7)) == "000002010307000R"


async def test_links_serving_the_same_prefix_share_the_load(smsc: SmscDouble) -> None:
    links = [link(smsc.port, "x", "ccd1"), link(smsc.port, "y", "ccd2")]
    async with _gateway(links) as (gw, heard):
        for i in range(6):
            await gw.send(f"+7916000000{i}", "hi", str(i))
    assert [s.system_id for s in smsc.submits] == ["ccd1", "ccd2"] * 3
