"""The gateway against `python -m ccd.sim.smsc` in a process of its own, driven only through
SMPP and the double's control API, as a carrier's SMSC is seen from ccd."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from ccd.messaging.sms.gateway import PartStatus, SmsGateway
from ccd.messaging.sms.mo import InboundSms
from ccd.messaging.sms.receipts import Receipt
from ccd.sim.smsc.process import SmscProcess
from tests.dialer.conftest import eventually
from tests.sms.conftest import link


def _until(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def run() -> bool:
        return check()

    return run


async def _started(gw: SmsGateway) -> SmsGateway:
    gw.start()
    for ln in gw.links.values():
        await ln.wait_bound(10)
    return gw


@pytest.mark.slow
async def test_long_messages_both_ways_with_receipts_before_resp(smsc_proc: SmscProcess) -> None:
    receipts: list[Receipt] = []
    inbound: list[InboundSms] = []
    await smsc_proc.control("POST", "/receipts", {"prefix": "7916", "before_resp": True})
    await smsc_proc.control("POST", "/receipts", {"prefix": "7903", "state": "rejected",
                                                  "tlv": False, "delay": 0.2})  # fmt: skip
    gw = await _started(SmsGateway([link(smsc_proc.port)], on_receipt=receipts.append,
                                   on_inbound=inbound.append, sweep_every=0.1))  # fmt: skip
    try:
        uk = "Ґречка, їжак і єнот чекають на вас у суботу! 🎉 " * 3
        sent = await gw.send("+79161234567", uk, "uk")
        gsm = await gw.send("+79031234567", "Price: 10€ [promo] ~ today only. " * 6, "gsm")
        assert [len(sent.parts), len(gsm.parts)] == [3, 2]
        await eventually(_until(lambda: len(receipts) == 5), 10, "5 receipts")
        await smsc_proc.control("POST", "/mo", {"sender": "79161234567", "recipient": "7333",
                                                "text": uk, "order": [3, 2, 1]})  # fmt: skip
        await eventually(_until(lambda: bool(inbound)), 10, "the MO")
    finally:
        await gw.close()
    assert {(r.ref, r.state.value) for r in receipts} == {("uk", "delivered"),
                                                          ("gsm", "rejected")}  # fmt: skip
    assert sorted(r.part for r in receipts if r.ref == "uk") == [1, 2, 3]
    submits = await smsc_proc.control("GET", "/submits")
    assert "".join(s["text"] for s in submits[:3]) == uk
    assert [s["data_coding"] for s in submits] == [8, 8, 8, 0, 0]
    assert [(m.text, m.parts, m.complete) for m in inbound] == [(uk, 3, True)]


@pytest.mark.slow
async def test_throttling_is_respected_and_the_tps_limit_holds(smsc_proc: SmscProcess) -> None:
    await smsc_proc.control("POST", "/config", {"tps": 10})
    links = [link(smsc_proc.port, tps=10, window=20)]
    gw = await _started(SmsGateway(links, on_receipt=lambda r: None, on_inbound=lambda m: None))
    try:
        results = await asyncio.gather(*(gw.send(f"+7916000{i:04d}", f"n{i}", str(i))
                                         for i in range(35)))  # fmt: skip
    finally:
        await gw.close()
    assert all(r.parts[0].status is PartStatus.ACCEPTED for r in results)
    state: dict[str, Any] = await smsc_proc.control("GET", "/state")
    [session] = state["all_sessions"]
    assert session["accepted"] == 35
    assert session["max_per_second"] <= 10  # measured by the SMSC, not assumed by us
    assert state["throttled"] == 0  # it never had to push back


@pytest.mark.slow
async def test_failover_and_a_drop_with_messages_in_the_window(smsc_proc: SmscProcess) -> None:
    links = [link(smsc_proc.port, "one", "ccd1", prefixes=("+7916",), reconnect_min=3.0),
             link(smsc_proc.port, "two", "ccd2", prefixes=("+79",))]  # fmt: skip
    gw = await _started(SmsGateway(links, on_receipt=lambda r: None, on_inbound=lambda m: None))
    try:
        await smsc_proc.control("POST", "/config", {"hold": True})
        in_window = [asyncio.create_task(gw.send(f"+7916100000{i}", "held", f"h{i}"))
                     for i in range(3)]  # fmt: skip

        async def all_held() -> bool:
            return len(await smsc_proc.control("GET", "/submits")) == 3

        await eventually(all_held, 10, "3 submits held at the SMSC")
        await smsc_proc.control("POST", "/config", {"hold": False})
        await smsc_proc.control("POST", "/drop", {"system_id": "ccd1"})
        outcomes = [(await t).parts[0] for t in in_window]
        assert {(o.status, o.link) for o in outcomes} == {(PartStatus.UNKNOWN, "one")}
        await eventually(_until(lambda: not gw.links["one"].bound), 5, "link one down")
        moved = await gw.send("+79162000000", "after the drop", "m")
        assert (moved.parts[0].link, moved.parts[0].status) == ("two", "accepted")
        await asyncio.sleep(0.5)
    finally:
        await gw.close()
    submits = await smsc_proc.control("GET", "/submits")
    assert [s["text"] for s in submits].count("held") == 3  # never twice
    assert len(submits) == 4


@pytest.mark.slow
async def test_an_smsc_restart_and_a_half_open_link_are_ridden_out(smsc_proc: SmscProcess) -> None:
    gw = await _started(SmsGateway([link(smsc_proc.port)], on_receipt=lambda r: None,
                                   on_inbound=lambda m: None))  # fmt: skip
    ln = gw.links["a"]
    try:
        await smsc_proc.control("POST", "/restart", {"down_for": 0.5})
        await eventually(_until(lambda: ln.binds == 2 and ln.bound), 10, "bound after restart")
        assert (await gw.send("+79160000001", "after restart", "r")).parts[0].status == "accepted"
        await smsc_proc.control("POST", "/mute", {})
        await eventually(_until(lambda: ln.binds == 3 and ln.bound), 10, "bound after silence")
        assert (await gw.send("+79160000002", "after silence", "s")).parts[0].status == "accepted"
    finally:
        await gw.close()


async def test_the_control_api_names_what_is_wrong(smsc_proc: SmscProcess) -> None:
    for path, body, needle in [
        ("/config", {"tps": 0}, "tps: Input should be greater than or equal to 1"),
        ("/receipts", {"state": "lost"}, "state: Input should be"),
        ("/mo", {"sender": "1", "recipient": "2", "text": "hi", "order": [2]}, "parts are 1..1"),
        ("/mo", {"sender": "1", "text": "hi"}, "recipient: Field required"),
        ("/drop", {"system": "x"}, "system: Extra inputs are not permitted"),
    ]:
        with pytest.raises(RuntimeError, match=f"400.*{needle}"):
            await smsc_proc.control("POST", path, body)
