"""Customers' SMS from the SMSC double into PostgreSQL through the daemon's own SMS wiring
(`SmsChannel` -> `SmsInbox`, as `ccd run` wires them): encodings and parts stored once, one
MO over two links stored once, keywords in Latin and Cyrillic, STOP opting out with a
confirmation (and the next marketing SMS not sent), a burst of 10 000 stored with none lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

import asyncpg

from ccd.messaging.channel import OutboundMessage, SendResult, StatusListener
from ccd.messaging.inbox import SmsInbox
from ccd.messaging.keywords import STOP_RU
from ccd.messaging.sender import MailingService
from ccd.messaging.sms.channel import REPLY_REF, SmsChannel
from ccd.messaging.sms.receipts import DeliveryState
from ccd.messaging.spec import MailingSpec
from ccd.sim.smsc.double import ReceiptRule, SmscDouble, Submitted
from ccd.store import inbox as inbox_store
from ccd.store import mailings as mailing_store
from ccd.store.sms_keywords import add_keyword
from tests.dialer.conftest import eventually
from tests.sms.conftest import link, no_reports

LONG = "Здравствуйте! Хочу перенести доставку заказа 4521 на пятницу после обеда, можно? " * 2


@dataclass
class Running:
    inbox: SmsInbox
    sms: SmsChannel
    pushed: list[dict[str, Any]]


@asynccontextmanager
async def _inbox(
    pool: asyncpg.Pool, smsc: SmscDouble, *ids: str, validity: timedelta = timedelta(hours=1)
) -> AsyncIterator[Running]:
    """The channel and the inbox as `ccd run` wires and starts them (replies sent before
    resumed: their receipts still match)."""
    links = [link(smsc.port, name=f"l{n}", system_id=sid) for n, sid in enumerate(ids or ["ccd1"])]
    sms = SmsChannel(links, validity=validity, sweep_every=0.1)
    pushed: list[dict[str, Any]] = []
    inbox = SmsInbox(pool, sms.send_text, pushed.append, retry_s=0.1)
    sms.set_inbound(inbox.accept, hold=inbox.hold)
    sms.restore_parts(await inbox_store.held_parts(pool))
    sms.set_replies(inbox.reply_report)
    replies = await inbox_store.replies_awaiting_reports(pool)
    sms.resume(((r["id"], r["provider_id"], r["sent_at"]) for r in replies), prefix=REPLY_REF)
    await inbox.start()
    await sms.start(no_reports)
    try:
        for ln in sms.gateway.links.values():
            await ln.wait_bound(5)
        yield Running(inbox, sms, pushed)
    finally:
        await sms.close()
        await inbox.close()


def _count(pool: asyncpg.Pool, n: int, where: str = "true") -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await pool.fetchval(f"SELECT count(*) FROM sms_inbound WHERE {where}") >= n)

    return check


async def test_gsm_ucs2_and_a_long_message_in_any_order_are_stored_once_with_their_contact(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    async with _inbox(pool, smsc) as run:
        pushed = run.pushed
        smsc.inject_mo("79161234567", "7333", "Hello {there}")
        smsc.inject_mo("79161234567", "7333", "Привет")
        # parts 3, 1, 2 and part 1 again (the SMSC retried it)
        assert smsc.inject_mo("79031112233", "7333", LONG, order=[3, 1, 2, 1], ref=7) == 3
        smsc.inject_mo("79031112233", "7333", "Код\x00 1")  # NUL: PostgreSQL text refuses it
        await eventually(_count(pool, 4), 10, "4 messages stored")
        await eventually(lambda: _true(len(pushed) == 4), 5, "4 pushed")
    rows = await pool.fetch(
        "SELECT i.*, c.phone FROM sms_inbound i JOIN contacts c ON c.id = i.contact_id ORDER BY id"
    )
    got = [(r["sender"], r["phone"], r["text"], r["coding"], r["parts"], r["complete"],
            r["status"], r["keyword"], r["link"]) for r in rows]  # fmt: skip
    assert got == [
        ("+79161234567", "+79161234567", "Hello {there}", "gsm7", 1, True, "new", None, "l0"),
        ("+79161234567", "+79161234567", "Привет", "ucs2", 1, True, "new", None, "l0"),
        ("+79031112233", "+79031112233", LONG, "ucs2", 3, True, "new", None, "l0"),
        ("+79031112233", "+79031112233", "Код\ufffd 1", "ucs2", 1, True, "new", None, "l0"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 2
    assert [p["message"]["text"] for p in pushed] == [r[2] for r in got]


async def _true(value: bool) -> bool:
    return value


async def test_the_same_mo_over_two_links_and_again_after_a_reconnect_is_stored_once(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    async with _inbox(pool, smsc, "ccd1", "ccd2"):
        smsc.inject_mo("79161234567", "7333", "ДА", system_id="ccd1")
        smsc.inject_mo("79161234567", "7333", "ДА", system_id="ccd2")
        await eventually(_count(pool, 1), 10, "the first stored")
        smsc.drop("ccd1")  # the SMSC delivers it again once the link is back
        smsc.inject_mo("79161234567", "7333", "ДА", system_id="ccd1")
        smsc.inject_mo("79161234567", "7333", "НЕТ", system_id="ccd2")  # another message
        await eventually(_count(pool, 1, "text = 'НЕТ'"), 10, "the second stored")
        await eventually(lambda: _true(smsc.queued.get("ccd1") is None), 10, "redelivered")
        await eventually(lambda: _true(smsc.mo_sent == 4), 5, "all MO sent")
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM sms_inbound ORDER BY id")]
    assert texts == ["ДА", "НЕТ"]


async def test_keywords_match_in_latin_and_cyrillic_and_auto_rules_reply(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    await add_keyword(pool, "vote", reply=None, assign="inbox", consent=None)
    await add_keyword(pool, "Запись", reply="Записали вас, {first_name}!", assign="auto",
                      consent=None)  # fmt: skip
    await pool.execute("INSERT INTO contacts (phone, first_name) VALUES ('+79161234567', 'Анна')")
    async with _inbox(pool, smsc):
        smsc.inject_mo("79161234567", "7333", "Vote 5")
        smsc.inject_mo("79161234567", "7333", "ЗАПИСЬ на среду, 10:00")
        smsc.inject_mo("79031112233", "7333", "«запись», пожалуйста")
        smsc.inject_mo("79031112233", "7333", "a vote for 5")  # not the first word
        await eventually(_count(pool, 4), 10, "4 stored")
        await eventually(lambda: _true(len(smsc.submits) == 2), 10, "2 replies at the SMSC")
    rows = await pool.fetch("SELECT text, keyword, status FROM sms_inbound ORDER BY id")
    assert [(r["keyword"], r["status"]) for r in rows] == [
        ("VOTE", "new"), ("ЗАПИСЬ", "auto"), ("ЗАПИСЬ", "auto"), (None, "new")]  # fmt: skip
    replies = sorted((s.destination, _text(s)) for s in smsc.submits)
    assert replies == [("79031112233", "Записали вас!"), ("79161234567", "Записали вас, Анна!")]
    states = await pool.fetch("SELECT kind, state, user_id FROM sms_replies")
    # sent, and delivered if the double's receipt (at once) came before the close
    assert {(r["kind"], r["state"] in ("sent", "delivered"), r["user_id"]) for r in states} == {
        ("auto", True, None)}  # fmt: skip


class _SmsOverLinks:
    """The inbox's SMS channel lent to the mailing below (started once, by the fixture), so
    the mailing really goes to the SMSC double."""

    name = "sms"

    def __init__(self, sms: SmsChannel) -> None:
        self._sms = sms

    async def start(self, on_status: StatusListener) -> None:
        return None

    async def send(self, message: OutboundMessage) -> SendResult:
        return await self._sms.send(message)

    async def close(self) -> None:
        return None


SPEC = MailingSpec.model_validate({"variants": [{"channels": ["sms"], "templates": {"sms": {
    "text": {"default": "Скидка 20% до воскресенья"}, "fallback": "Скидка"}}}]})  # fmt: skip


async def test_stop_opts_out_at_once_confirms_and_the_next_marketing_sms_is_not_sent(
    pool: asyncpg.Pool, db_url: str, smsc: SmscDouble
) -> None:
    await pool.execute("INSERT INTO contacts (phone) VALUES ('+79161234567'), ('+79031112233')")
    await pool.execute(
        "INSERT INTO consent_events (contact_id, channel, purpose, status, method)"
        " SELECT id, 'sms', 'marketing', 'opt_in', 'import' FROM contacts"
    )
    async with _inbox(pool, smsc) as run:
        smsc.inject_mo("79161234567", "7333", "Стоп")
        await eventually(lambda: _true(len(smsc.submits) == 1), 10, "the confirmation")
        assert (smsc.submits[0].destination, _text(smsc.submits[0])) == ("79161234567", STOP_RU)
        row = await pool.fetchrow(
            "SELECT n.status, n.method, e.proof FROM contact_consent_now n"
            " JOIN contacts c ON c.id = n.contact_id JOIN consent_events e"
            " ON e.contact_id = n.contact_id AND e.at = n.at AND e.channel = n.channel"
            " WHERE c.phone = '+79161234567' AND n.channel = 'sms' AND n.purpose = 'marketing'"
        )
        inbound = await pool.fetchrow("SELECT id, keyword, status FROM sms_inbound")
        assert (row["status"], row["method"]) == ("opt_out", "sms_keyword")
        assert row["proof"]["inbound_id"] == inbound["id"] and row["proof"]["text"] == "Стоп"
        assert (inbound["keyword"], inbound["status"]) == ("СТОП", "auto")

        # The next marketing mailing: the other contact gets it, the one who sent STOP not.
        svc = MailingService(pool, db_url, {"sms": _SmsOverLinks(run.sms)},
                             instance_id=str(uuid.uuid4()), alive=_dead, public_url="http://x",
                             resync_s=0.2, idle_s=0.05)  # fmt: skip
        async with pool.acquire() as conn:
            await mailing_store.create_mailing(conn, "sale", "marketing", SPEC,
                                               hours=(time(0), time.max))  # fmt: skip
            await mailing_store.set_status(conn, "sale", "running")
        await svc.start()
        try:
            await eventually(_mailing_done(pool), 20, "the mailing completed")
        finally:
            await svc.stop()
        # the other contact answers the mailing: a reply in the mailing's report
        smsc.inject_mo("79031112233", "7333", "А на что скидка?")
        await eventually(_count(pool, 2), 10, "the answer stored")
        report = await pool.fetch(
            "SELECT channel, sent, left_out, replies FROM mailing_report ORDER BY channel"
        )
        assert [tuple(r) for r in report] == [("sms", 1, 0, 1), (None, 0, 1, 0)]
    to = sorted(s.destination for s in smsc.submits[1:])
    assert to == ["79031112233"]
    reason = await pool.fetchval(
        "SELECT m.reason FROM mailing_messages m JOIN contacts c ON c.id = m.contact_id"
        " WHERE c.phone = '+79161234567'"
    )
    assert reason == "opted_out"


def _text(s: Submitted) -> str:
    return str(s.as_json()["text"])


async def _dead(_instance: str) -> bool:
    return False


def _mailing_done(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await pool.fetchval("SELECT status = 'completed' FROM mailings"))

    return check


async def test_a_burst_of_10000_mo_is_stored_with_none_lost(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    async with _inbox(pool, smsc) as run:
        for n in range(10_000):
            smsc.inject_mo(f"7916{n:07d}", "7333", f"VOTE {n % 7}")
        await eventually(_count(pool, 10_000), 120, "10 000 stored")
    assert await pool.fetchval("SELECT count(DISTINCT sender) FROM sms_inbound") == 10_000
    assert run.inbox.stored == 10_000
    told = [p.get("count", 1) for p in run.pushed]  # each message, or a note per burst
    assert sum(told) == 10_000 and all(p["type"] == "sms_inbound_many" for p in run.pushed
                                       if "count" in p)  # fmt: skip


async def test_a_reply_left_sending_by_a_dead_process_is_settled_unknown_never_resent(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    await pool.execute(
        "INSERT INTO sms_inbound (link, sender, recipient, text, coding, received_at, dedup_key)"
        " VALUES ('l0', '+79161234567', '7333', 'Когда?', 'ucs2', now(), 'k')"
    )
    await pool.execute(
        "INSERT INTO sms_replies (inbound_id, phone, kind, text, created_at) SELECT id,"
        " sender, 'manual', t, now() - d FROM sms_inbound, (VALUES ('old', interval '3 min'),"
        " ('in flight elsewhere', interval '5 s')) v(t, d)"
    )
    async with _inbox(pool, smsc):
        states = dict(await pool.fetch("SELECT text, state FROM sms_replies"))
    assert states == {"old": "unknown", "in flight elsewhere": "sending"}
    assert smsc.submits == []


async def test_a_batch_the_database_refuses_is_kept_unanswered_and_answered_once_stored(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    """No deliver_sm_resp goes back before the message is committed: while PostgreSQL refuses,
    the SMSC keeps them unanswered (it would deliver them again if ccd died now). The parts
    of a long message are stored in the same batches, and answered with them."""
    async with _inbox(pool, smsc) as run:
        await pool.execute("ALTER TABLE sms_inbound RENAME TO sms_inbound_away")
        for n in range(3):
            smsc.inject_mo(f"7916123456{n}", "7333", f"VOTE {n}")
        assert smsc.inject_mo("79031112233", "7333", LONG, order=[2, 3, 1]) == 3
        await eventually(lambda: _true(run.inbox.store_failures >= 2), 10, "refused twice")
        await eventually(lambda: _true(smsc.state()["unacked"] == 6), 5, "6 in hand")
        assert smsc.state()["acked"] == 0 and smsc.redelivered == 0
        await pool.execute("ALTER TABLE sms_inbound_away RENAME TO sms_inbound")
        await eventually(_count(pool, 4), 10, "the kept batch stored")
        await eventually(lambda: _true(smsc.state()["acked"] == 6), 5, "all answered")
    assert smsc.state()["unacked"] == 0
    assert await pool.fetchval("SELECT count(*) FROM sms_mo_parts") == 0
    assert sorted(r["text"] for r in await pool.fetch("SELECT text FROM sms_inbound")) == [
        "VOTE 0", "VOTE 1", "VOTE 2", LONG]  # fmt: skip


async def test_an_mo_is_answered_only_after_its_batch_commits(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    """A slow batch (its transaction held open by a lock on sms_inbound): the message's
    deliver_sm_resp comes after the commit, never before."""
    async with _inbox(pool, smsc), pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE sms_inbound IN EXCLUSIVE MODE")
        smsc.inject_mo("79161234567", "7333", "Когда доставка?")
        await eventually(_waiting_on_lock(pool), 10, "the batch waits on the lock")
        assert smsc.state()["acked"] == 0 and smsc.state()["unacked"] == 1
        await tx.rollback()  # the batch goes on and commits
        await eventually(lambda: _true(smsc.state()["acked"] == 1), 10, "answered")
        assert await pool.fetchval("SELECT count(*) FROM sms_inbound") == 1


async def test_parts_answered_before_a_restart_are_kept_and_their_message_stored_whole(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    """Parts of a long message are answered once stored (not before: a lock holds their
    batch), come back after a restart, and go when the message they complete is stored."""
    async with _inbox(pool, smsc), pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE sms_mo_parts IN EXCLUSIVE MODE")
        smsc.inject_mo("79031112233", "7333", LONG, order=[1, 3], ref=9)
        await eventually(_waiting_on_lock(pool), 10, "the parts' batch waits on the lock")
        assert smsc.state()["acked"] == 0 and smsc.state()["unacked"] == 2
        await tx.rollback()
        await eventually(lambda: _true(smsc.state()["acked"] == 2), 10, "parts answered")
        assert await pool.fetchval("SELECT count(*) FROM sms_mo_parts") == 2
    assert await pool.fetchval("SELECT count(*) FROM sms_inbound") == 0
    async with _inbox(pool, smsc):  # the next process: the SMSC sends the last part
        smsc.inject_mo("79031112233", "7333", LONG, order=[2], ref=9)
        await eventually(_count(pool, 1), 10, "the message stored")
    row = await pool.fetchrow("SELECT text, parts, complete FROM sms_inbound")
    assert tuple(row) == (LONG, 3, True)
    assert await pool.fetchval("SELECT count(*) FROM sms_mo_parts") == 0
    assert smsc.state()["acked"] == 3


async def test_a_graceful_close_answers_the_messages_in_hand_before_the_unbind(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    async with _inbox(pool, smsc) as run, pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE sms_inbound IN EXCLUSIVE MODE")
        smsc.inject_mo("79161234567", "7333", "Когда доставка?")
        await eventually(_waiting_on_lock(pool), 10, "the batch waits on the lock")
        closing = asyncio.create_task(run.sms.close())
        await asyncio.sleep(0.2)  # the close waits for the message in hand, links still bound
        assert not closing.done() and run.sms.gateway.links["l0"].bound
        assert smsc.state()["acked"] == 0
        await tx.rollback()
        await closing
    assert smsc.state()["acked"] == 1 and not smsc.queued.get("ccd1")  # not delivered again
    assert await pool.fetchval("SELECT count(*) FROM sms_inbound") == 1


def _waiting_on_lock(pool: asyncpg.Pool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"))  # fmt: skip

    return check


async def test_reply_receipts_settle_replies_delivered_or_failed_and_are_pushed(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    smsc.rules["7916"] = ReceiptRule(DeliveryState.DELIVERED, delay=0.2)
    smsc.rules["7903"] = ReceiptRule(DeliveryState.UNDELIVERABLE, delay=0.2)
    async with _inbox(pool, smsc) as run:
        smsc.inject_mo("79161234567", "7333", "Когда доставка?")
        smsc.inject_mo("79031112233", "7333", "А завтра?")
        await eventually(_count(pool, 2), 10, "2 stored")
        ids = dict(await pool.fetch("SELECT sender, id FROM sms_inbound"))
        for sender in ids:
            out = await run.inbox.reply(ids[sender], "Завтра с 10 до 14.", user_id=None)
            assert out["state"] == "sent"

        async def settled() -> bool:
            states = await pool.fetch("SELECT state FROM sms_replies WHERE state <> 'sent'")
            return len(states) == 2

        await eventually(settled, 10, "both replies settled by their receipts")
        rows = await pool.fetch(
            "SELECT phone, state, error, reported_at IS NOT NULL AS reported FROM sms_replies"
        )
        pushed = [(p["inbound_id"], p["state"]) for p in run.pushed if p["type"] == "sms_reply"]
    got = {r["phone"]: (r["state"], r["error"], r["reported"]) for r in rows}
    assert got == {"+79161234567": ("delivered", None, True),
                   "+79031112233": ("failed", "UNDELIV", True)}  # fmt: skip
    assert sorted(pushed) == sorted([
        (ids["+79161234567"], "sent"), (ids["+79031112233"], "sent"),
        (ids["+79161234567"], "delivered"), (ids["+79031112233"], "failed")])  # fmt: skip


async def test_a_reply_sent_before_a_restart_gets_its_receipt_after_it_or_expires(
    pool: asyncpg.Pool, smsc: SmscDouble
) -> None:
    """The SMSC keeps the receipt of a reply sent by the process before for the next bind;
    a reply with no receipt within the validity period ends expired."""
    smsc.rules["7916"] = ReceiptRule(DeliveryState.DELIVERED, delay=0.5)
    smsc.rules["7903"] = ReceiptRule(state=None)
    validity = timedelta(seconds=2)
    async with _inbox(pool, smsc, validity=validity) as run:
        smsc.inject_mo("79161234567", "7333", "Когда доставка?")
        smsc.inject_mo("79031112233", "7333", "А завтра?")
        await eventually(_count(pool, 2), 10, "2 stored")
        for inbound_id in [r["id"] for r in await pool.fetch("SELECT id FROM sms_inbound")]:
            assert (await run.inbox.reply(inbound_id, "Завтра.", user_id=None))["state"] == "sent"
    # the process is gone before the receipt: the SMSC keeps it for the next bind
    await eventually(lambda: _true(smsc.queued.get("ccd1") is not None), 5, "receipt kept")
    async with _inbox(pool, smsc, validity=validity):

        async def settled() -> bool:
            return not await pool.fetch("SELECT 1 FROM sms_replies WHERE state = 'sent'")

        await eventually(settled, 10, "both replies settled")
    got = dict(await pool.fetch("SELECT phone, state FROM sms_replies"))
    assert got == {"+79161234567": "delivered", "+79031112233": "expired"}
