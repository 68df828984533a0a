"""Customers' SMS under `ccd run`, with the SMSC double in its own process and the link added
by `ccd smsc add`: a message with a code lands in the inbox API and on a manager's WebSocket,
the manager's reply reaches the double and its receipt marks it delivered; STOP opts the sender
out and confirms, and the next marketing mailing leaves them out; a burst of 5 000 is stored
whole while the API answers; MO received but not stored when ccd is killed -9 are delivered
again by the SMSC after the restart and stored once."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccd.sim.smsc.process import SmscProcess
from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess

pytestmark = pytest.mark.e2e

CONTACTS = """phone,first_name,consent_sms
+79161234567,Анна,yes
+79031112233,Борис,yes
"""
VARIANTS = """
variants:
  - channels: [sms]
    templates:
      sms:
        text: {default: "{first_name}, скидка 20% до воскресенья"}
        fallback: "Скидка 20% до воскресенья"
"""


@pytest.fixture
async def sms_ccd(ccd: CcdFactory, tmp_path: Path) -> AsyncIterator[tuple[CcdProcess, SmscProcess]]:
    """The SMSC double in its own process, its link added by `ccd smsc add`, then `ccd run`
    bound to it."""
    smsc = SmscProcess(tmp_path, {"ccd": "pw16"})
    smsc.start()
    try:
        daemon = await ccd(start=False)
        await daemon.cli("smsc", "add", "carrier1", "--host", "127.0.0.1", "--port",
                         str(smsc.port), "--system-id", "ccd", "--password", "pw16")  # fmt: skip
        await daemon.start()

        async def bound() -> bool:
            return bool((await smsc.control("GET", "/state"))["binds"] >= 1)

        await eventually(bound, within=20, what="ccd run bound to the SMSC")
        yield daemon, smsc
    finally:
        smsc.stop()


async def _submits_to(smsc: SmscProcess, number: str) -> list[dict[str, Any]]:
    return [s for s in await smsc.control("GET", "/submits") if s["destination"] == number]


async def test_a_coded_sms_reaches_the_inbox_live_and_the_managers_reply_reaches_the_smsc(
    sms_ccd: tuple[CcdProcess, SmscProcess], tmp_path: Path
) -> None:
    daemon, smsc = sms_ccd
    out = await daemon.cli("sms", "keyword", "add", "заказ", "--assign", "inbox")
    assert "keyword ЗАКАЗ added (inbox)" in out
    await daemon.cli("user", "add", "olga", "--role", "manager",
                     env={"CCD_USER_PASSWORD": "s3cret-pass"})  # fmt: skip
    login = await daemon.post("/api/login", {"login": "olga", "password": "s3cret-pass"})
    token = str(login.body["token"])
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(daemon.url.replace("http", "ws") + "/api/live",
                        headers={"Authorization": f"Bearer {token}"}) as ws,
    ):  # fmt: skip
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        text = "Заказ 4521: можно привезти в пятницу после 18:00? " * 2  # two parts
        assert (await smsc.control("POST", "/mo", {
            "sender": "79161234567", "recipient": "7333", "text": text, "order": [2, 1],
        }))["parts"] == 2  # fmt: skip
        pushed: list[dict[str, Any]] = []

        async def heard() -> bool:
            with contextlib.suppress(TimeoutError):
                pushed.append(await ws.receive_json(timeout=0.2))
            return any(m["type"] == "sms_inbound" for m in pushed)

        await eventually(heard, within=15, what="the message on the manager's socket")
        (msg,) = [m["message"] for m in pushed if m["type"] == "sms_inbound"]
        assert (msg["text"], msg["keyword"], msg["sender"]) == (text, "ЗАКАЗ", "+79161234567")

        listed = await daemon.get("/api/inbox?code=заказ&status=new", token=token)
        assert listed.status == 200
        assert [m["id"] for m in listed.body["messages"]] == [msg["id"]]
        one = await daemon.get(f"/api/inbox/{msg['id']}", token=token)
        assert one.body["parts"] == 2 and one.body["coding"] == "ucs2"

        answer = {"text": "Да, привезём в пятницу в 19:00."}
        reply = await daemon.post(f"/api/inbox/{msg['id']}/reply", answer, token=token)
        assert reply.status == 200 and reply.body["state"] == "sent", reply
        (sent,) = await _submits_to(smsc, "79161234567")
        assert sent["text"] == "Да, привезём в пятницу в 19:00."

        async def delivered() -> bool:  # the double's receipt (DELIVRD) for the reply
            with contextlib.suppress(TimeoutError):
                pushed.append(await ws.receive_json(timeout=0.2))
            return any(m["type"] == "sms_reply" and m["state"] == "delivered" for m in pushed)

        await eventually(delivered, within=15, what="the reply's receipt on the socket")
        (row,) = await daemon.sql("SELECT state, reported_at FROM sms_replies")
        assert row["state"] == "delivered" and row["reported_at"] is not None
        done = await daemon.post(f"/api/inbox/{msg['id']}/done", token=token)
        assert done.status == 200 and done.body["status"] == "done"

    out_file = tmp_path / "inbox.csv"
    await daemon.cli("export", "inbox", "--code", "ЗАКАЗ", "--out", str(out_file))
    exported = out_file.read_text()
    assert "Заказ 4521" in exported and "Да, привезём в пятницу в 19:00." in exported


async def test_stop_opts_out_with_a_confirmation_and_the_next_mailing_leaves_them_out(
    sms_ccd: tuple[CcdProcess, SmscProcess], tmp_path: Path
) -> None:
    daemon, smsc = sms_ccd
    (tmp_path / "c.csv").write_text(CONTACTS)
    (tmp_path / "v.yaml").write_text(VARIANTS)
    await daemon.cli("contacts", "import", str(tmp_path / "c.csv"))
    await smsc.control("POST", "/mo", {"sender": "79161234567", "recipient": "7333",
                                       "text": "СТОП"})  # fmt: skip

    async def confirmed() -> list[dict[str, Any]]:
        return await _submits_to(smsc, "79161234567")

    (confirmation,) = await eventually(confirmed, within=15, what="the STOP confirmation")
    assert "отписаны" in confirmation["text"]
    show = await daemon.cli("contacts", "show", "+79161234567")
    assert "sms_keyword" in show and "opt_out" in show and "from │ СТОП" in show

    await daemon.cli("mailing", "create", "sale", "--purpose", "marketing", "--variants",
                     str(tmp_path / "v.yaml"), "--hours", "00:00-24:00")  # fmt: skip
    await daemon.cli("mailing", "start", "sale")

    async def completed() -> bool:
        return "mailing sale: completed" in await daemon.cli("mailing", "status", "sale")

    await eventually(completed, within=30, what="the mailing completed")
    rows = {r["phone"]: (r["state"], r["reason"]) for r in await daemon.sql(
        "SELECT c.phone, m.state, m.reason FROM mailing_messages m"
        " JOIN contacts c ON c.id = m.contact_id")}  # fmt: skip
    assert rows["+79161234567"] == ("skipped", "opted_out")
    # Boris is not left out: his goes to the SMS channel (failed while there is none)
    assert rows["+79031112233"][0] != "skipped"
    assert await _submits_to(smsc, "79161234567") == [confirmation]  # nothing after STOP


async def test_a_burst_of_mo_is_stored_whole_while_the_inbox_api_answers(
    sms_ccd: tuple[CcdProcess, SmscProcess],
) -> None:
    daemon, smsc = sms_ccd
    token = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    n = 5000
    await smsc.control("POST", "/mo", {"sender": "79160000000", "recipient": "7333",
                                       "text": "VOTE 2", "count": n})  # fmt: skip
    answered = 0

    async def all_stored() -> bool:
        nonlocal answered
        reply = await daemon.get("/api/inbox?status=new&limit=20", token=token)
        assert reply.status == 200, reply
        answered += 1
        (row,) = await daemon.sql("SELECT count(*) AS n FROM sms_inbound")
        return bool(row["n"] >= n)

    await eventually(all_stored, within=60, what=f"{n} MO stored")
    (row,) = await daemon.sql("SELECT count(*) AS n, count(DISTINCT sender) AS d FROM sms_inbound")
    assert (row["n"], row["d"]) == (n, n) and answered >= 1
    assert sum(e["messages"] for e in daemon.events("sms.mo.stored")) == n


async def test_mo_in_hand_at_a_kill_9_are_delivered_again_after_the_restart_and_stored_once(
    sms_ccd: tuple[CcdProcess, SmscProcess],
) -> None:
    daemon, smsc = sms_ccd
    await daemon.sql("ALTER TABLE sms_inbound RENAME TO sms_inbound_away")  # PostgreSQL refuses
    await smsc.control("POST", "/mo", {"sender": "79160000000", "recipient": "7333",
                                       "text": "ЗАКАЗ 17", "count": 3})  # fmt: skip

    async def unanswered() -> bool:
        state = await smsc.control("GET", "/state")
        return bool(daemon.events("sms.mo.store_failed")) and state["unacked"] == 3

    await eventually(unanswered, within=15, what="3 MO received, refused by the database")
    assert (await smsc.control("GET", "/state"))["acked"] == 0
    daemon.kill9()
    await daemon.sql("ALTER TABLE sms_inbound_away RENAME TO sms_inbound")
    await daemon.start()

    async def stored() -> bool:
        (row,) = await daemon.sql("SELECT count(*) AS n FROM sms_inbound")
        return bool(row["n"] >= 3)

    await eventually(stored, within=20, what="the 3 stored after the restart")
    state = await smsc.control("GET", "/state")
    assert state["redelivered"] == 3 and state["binds"] == 2
    rows = await daemon.sql("SELECT sender, count(*) AS n FROM sms_inbound GROUP BY 1")
    assert {r["sender"]: r["n"] for r in rows} == {
        "+79160000000": 1, "+79160000001": 1, "+79160000002": 1}  # fmt: skip

    async def answered() -> bool:
        return bool((await smsc.control("GET", "/state"))["acked"] == 3)

    await eventually(answered, within=10, what="the 3 answered once stored")


@pytest.mark.slow
async def test_parts_of_a_long_mo_answered_before_a_kill_9_make_it_whole_after_the_restart(
    sms_ccd: tuple[CcdProcess, SmscProcess],
) -> None:
    daemon, smsc = sms_ccd
    text = "Здравствуйте! Перенесите, пожалуйста, доставку заказа 4521 на пятницу после обеда. " * 2
    assert (await smsc.control("POST", "/mo", {
        "sender": "79031112233", "recipient": "7333", "text": text, "order": [1, 3], "ref": 9,
    }))["parts"] == 3  # fmt: skip

    async def held() -> bool:
        (row,) = await daemon.sql("SELECT count(*) AS n FROM sms_mo_parts")
        return bool(row["n"] == 2) and (await smsc.control("GET", "/state"))["acked"] == 2

    await eventually(held, within=15, what="parts 1 and 3 stored and answered")
    daemon.kill9()
    await daemon.start()
    await smsc.control("POST", "/mo", {"sender": "79031112233", "recipient": "7333",
                                       "text": text, "order": [2], "ref": 9})  # fmt: skip

    async def whole() -> bool:
        return bool(await daemon.sql("SELECT 1 FROM sms_inbound"))

    await eventually(whole, within=20, what="the message stored after the restart")
    rows = await daemon.sql("SELECT sender, text, parts, complete FROM sms_inbound")
    assert [tuple(r) for r in rows] == [("+79031112233", text, 3, True)]
    assert not await daemon.sql("SELECT 1 FROM sms_mo_parts")
    assert any(e.get("held_parts") == 2 for e in daemon.events("sms.channel_ready"))
