"""Customers' SMS into the database, keywords acted on, and replies out: the inbox's engine.

    inbox = SmsInbox(pool, send_text, notify)
    sms.set_inbound(inbox.accept, hold=inbox.hold)   # every reassembled MO, and the parts
    sms.restore_parts(await store.held_parts(pool))  # of long ones not yet whole
    sms.set_replies(inbox.reply_report)              # and the replies' delivery receipts
    await inbox.start()  ...  await inbox.close()

`accept` queues and returns once the message is stored: the SMS link answers the SMSC only
then, so a message in hand when the process dies is delivered again (and one stored whose
answer was lost is a repeat the dedup window absorbs). One writer stores what queued in
batches of up to `batch` (a burst of 10 000 is a few dozen transactions), so every message is
stored before anything else happens to it. A batch the database refused is kept and tried
again, unanswered meanwhile: nothing is dropped while PostgreSQL is away. Then the live
consoles hear of the stored messages (each, or one note for a burst), and a rule's reply (the
STOP confirmation among them) is sent per message.
Consent from STOP is written in the batch's own transaction (ccd.store.inbox). A part of a
long message not yet whole is stored the same way (`hold`, table sms_mo_parts) before its
answer; the parts come back after a restart, and go when their message is stored.

Replies are a customer's answer, not marketing: a reply to a message the customer sent is
never held back by their consent (an opted-out customer who asks a question gets the answer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import asyncpg

from ccd.log import get_logger
from ccd.messaging.channel import Outcome, SendResult, StatusReport
from ccd.messaging.keywords import Assign, Rule, Rules, reply_text
from ccd.messaging.sms.channel import REPLY_REF
from ccd.messaging.sms.mo import HeldPart, InboundSms
from ccd.store import inbox as store
from ccd.store.sms_keywords import load_rules

log = get_logger(__name__)

Notify = Callable[[dict[str, Any]], None]  # rows as they are: the live hub makes them JSON
# Longer than any send takes (a link answers or gives up within 30 s): a reply `sending` for
# longer was left by a process that died mid-send.
STALE_SEND = timedelta(minutes=2)
# Stored at once, more messages than this are announced as one `sms_inbound_many` (the
# consoles reload their list) rather than each on its own.
PUSH_EACH = 50


_Queued = tuple[InboundSms | HeldPart, "asyncio.Future[None]"]


class SendText(Protocol):
    def __call__(self, to: str, text: str, ref: str) -> Awaitable[SendResult]: ...


class NoSmsLink(Exception):
    """No SMSC link is configured: replies cannot go out."""


def reply_state(result: SendResult) -> str:
    """A reply's state from what the SMS channel made of it: sent when the SMSC took every
    part, unknown when a part may have gone out unanswered, else failed (a reply is not
    queued for later: the manager sees it failed and may send it again)."""
    if result.outcome is Outcome.SENT:
        return "sent"
    if result.outcome is Outcome.UNKNOWN:
        return "unknown"
    return "failed"


class SmsInbox:
    def __init__(
        self,
        pool: asyncpg.Pool,
        send_text: SendText | None,
        notify: Notify,
        *,
        batch: int = 500,
        dedup_window: timedelta = timedelta(minutes=10),
        retry_s: float = 1.0,
        concurrency: int = 8,
    ) -> None:
        self._pool = pool
        self._send_text = send_text
        self._notify = notify
        self._batch = batch
        self._window = dedup_window
        self._retry_s = retry_s
        # each message with the future its `accept` awaits; None: close
        self._queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._sends = asyncio.Semaphore(concurrency)
        self._writer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: list[_Queued] = []  # the batch being stored
        self.stored = 0  # messages stored by this process (benchmarks read it)
        self.store_failures = 0  # batches the database refused (and that were tried again)

    async def accept(self, sms: InboundSms) -> None:
        """The SMS channel's inbound handler: returns when the message is stored (its batch
        committed), however long the database takes."""
        await self._stored(sms)

    async def hold(self, part: HeldPart) -> None:
        """The SMS channel's part handler: returns when a part of a long message not yet
        whole is stored, in the same batches as whole messages."""
        await self._stored(part)

    async def _stored(self, item: InboundSms | HeldPart) -> None:
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, stored))
        await stored

    async def start(self) -> None:
        settled = await store.settle_stale_replies(self._pool, STALE_SEND)
        if settled:
            log.warning("sms.reply.unknown_settled", replies=settled)
        self._writer = asyncio.create_task(self._write(), name="sms-inbox-writer")

    async def close(self) -> None:
        """Store what queued before this call (waiting up to 10 s for the database), then stop."""
        if self._writer is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writer), 10)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        left = list(self._in_hand)
        while not self._queue.empty():
            if (queued := self._queue.get_nowait()) is not None:
                left.append(queued)
        for _, stored in left:  # unanswered: the SMSC delivers them again
            stored.cancel()
        if left:
            log.error("sms.mo.not_stored", messages=len(left))

    async def _write(self) -> None:
        closing = False
        while not closing:
            first = await self._queue.get()
            if first is None:
                return
            batch = self._in_hand = [first]
            while len(batch) < self._batch and not self._queue.empty():
                queued = self._queue.get_nowait()
                if queued is None:
                    closing = True
                    break
                batch.append(queued)
            while True:
                try:
                    await self._store(batch)
                    break
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.error("sms.mo.store_failed", messages=len(batch), error=str(exc))
                    self.store_failures += 1
                    await asyncio.sleep(self._retry_s)
                except Exception:  # a bug of ours: keep the batch, say so loudly, go on trying
                    log.exception("sms.mo.store_error", messages=len(batch))
                    await asyncio.sleep(self._retry_s)
            self._in_hand = []

    async def _store(self, batch: list[_Queued]) -> None:
        async with self._pool.acquire() as conn:
            parts = [p for p, _ in batch if isinstance(p, HeldPart)]
            if parts:  # before the messages: one that completes them deletes them
                await store.hold_parts(conn, parts)
            rules = await load_rules(conn)
            items = [_incoming(sms, rules) for sms, _ in batch if isinstance(sms, InboundSms)]
            stored = (
                await store.store_batch(conn, [i for i, _ in items], window=self._window)
                if items
                else []
            )
            for _, answer in batch:  # committed (repeats were stored before): answer the SMSC
                if not answer.done():
                    answer.set_result(None)
            rows = await store.messages_by_id(conn, [s.id for s in stored]) if stored else []
        self.stored += len(stored)
        log.info("sms.mo.stored", messages=len(stored), batch=len(batch))
        if len(rows) > PUSH_EACH:  # a burst: one note, not more than a console's queue holds
            self._notify({"type": "sms_inbound_many", "count": len(rows)})
        else:
            for row in rows:  # as GET /api/inbox lists them
                self._notify({"type": "sms_inbound", "message": row})
        by_item = {id(i): rule for i, rule in items}
        for s in stored:
            rule = by_item[id(s.item)]
            if rule is not None and rule.reply is not None:
                self._spawn(self._auto_reply(s, rule))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _auto_reply(self, s: store.Stored, rule: Rule) -> None:
        first_name = None
        if s.contact_id is not None:
            first_name = await self._pool.fetchval(
                "SELECT first_name FROM contacts WHERE id = $1", s.contact_id
            )
        text = reply_text(rule, first_name)
        if not text:
            return
        try:
            await self.reply(s.id, text, user_id=None)
        except NoSmsLink:
            log.warning("sms.reply.no_link", inbound_id=s.id, keyword=rule.code)

    async def reply(self, inbound_id: int, text: str, *, user_id: int | None) -> dict[str, Any]:
        """Send `text` to the sender of message `inbound_id` (its row is written first);
        the reply's row. KeyError: no such message; NoSmsLink: no SMSC link."""
        if self._send_text is None:
            raise NoSmsLink
        kind = "auto" if user_id is None else "manual"
        started = await store.start_reply(self._pool, inbound_id, user_id=user_id, kind=kind,
                                          text=text)  # fmt: skip
        if started is None:
            raise KeyError(inbound_id)
        reply_id, phone = started
        async with self._sends:
            result = await self._send_text(phone, text, f"{REPLY_REF}{reply_id}")
        state, error, parts = reply_state(result), result.reason, result.parts or 0
        await store.finish_reply(self._pool, reply_id, state=state, parts=parts,
                                 provider_id=result.provider_id, error=error)  # fmt: skip
        log.info("sms.reply.sent" if state == "sent" else "sms.reply.not_sent",
                 reply_id=reply_id, inbound_id=inbound_id, kind=kind, state=state,
                 error=error)  # fmt: skip
        self._notify({"type": "sms_reply", "inbound_id": inbound_id, "reply_id": reply_id,
                      "state": state, "kind": kind})  # fmt: skip
        return {"id": reply_id, "state": state, "parts": parts, "error": error}

    async def reply_report(self, report: StatusReport) -> None:
        """The SMS channel's listener for replies' receipts: the reply's row takes the final
        state (delivered, failed with the receipt's state, expired), and the consoles hear."""
        row = await store.report_reply(self._pool, report.message_id, state=report.state,
                                       reason=report.reason)  # fmt: skip
        if row is None:
            log.info("sms.reply.report_ignored", reply_id=report.message_id, state=report.state)
            return
        log.info("sms.reply.reported", reply_id=report.message_id, state=report.state,
                 reason=report.reason)  # fmt: skip
        self._notify({"type": "sms_reply", "inbound_id": row["inbound_id"],
                      "reply_id": report.message_id, "state": row["state"],
                      "kind": row["kind"]})  # fmt: skip


def _incoming(sms: InboundSms, rules: Rules) -> tuple[store.Incoming, Rule | None]:
    sender, zone = store.sender_number(sms.sender)
    rule = rules.match(sms.text)
    status = "auto" if rule is not None and rule.assign is Assign.AUTO else "new"
    item = store.Incoming(
        # PostgreSQL text cannot hold NUL (a UCS-2 message may): it would fail every retry
        link=sms.link, sender=sender, recipient=sms.recipient,
        text=sms.text.replace("\x00", "\ufffd"), coding=sms.coding,
        parts=sms.parts, complete=sms.complete, received_at=sms.received_at,
        keyword=rule.code if rule else None, status=status,
        consent=rule.consent if rule else None, time_zone=zone, held=sms.held,
    )  # fmt: skip
    return item, rule
