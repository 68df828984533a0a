"""Inbound SMS and the replies to them in PostgreSQL: batches stored once, the managers' inbox.

`store_batch` writes a batch of customers' messages in one transaction: the senders' contacts
(created when unknown), the messages that are not repeats (the same sender, recipient and
text within the dedup window: one MO delivered over two links, or again after a reconnect),
and the consent rows of their keywords. A transaction-level advisory lock per dedup key makes
two ccd processes that got the same MO store it once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ccd.domain.phones import InvalidNumber, normalize
from ccd.log import get_logger
from ccd.messaging.keywords import ConsentAction
from ccd.messaging.sms.mo import HeldPart, PartsKey
from ccd.store.db import AnyConnection

log = get_logger(__name__)

Conn = AnyConnection | asyncpg.Pool


@dataclass(frozen=True, slots=True)
class Incoming:
    """One customer's message, resolved for storage (see ccd.messaging.inbox)."""

    link: str
    sender: str  # E.164 when the sender is a valid number, else as the SMSC gave it
    recipient: str
    text: str
    coding: str
    parts: int
    complete: bool
    received_at: datetime
    keyword: str | None
    status: str  # new (the inbox) or auto
    consent: ConsentAction | None
    time_zone: str | None = None  # of a new contact
    held: PartsKey | None = None  # its parts in sms_mo_parts, deleted when it is stored

    @property
    def dedup_key(self) -> str:
        raw = "\x1f".join((self.sender, self.recipient, self.text))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    contact_id: int | None
    item: Incoming


def sender_number(raw: str) -> tuple[str, str | None]:
    """The SMSC's source_addr as E.164 and its time zone (one zone only), when it is a valid
    number in international form; else as given (a short code, an alphanumeric name)."""
    digits = raw.lstrip("+")
    if not digits.isdigit():
        return raw, None
    try:
        phone = normalize("+" + digits)
    except InvalidNumber:
        return raw, None
    return phone.e164, phone.time_zones[0] if len(phone.time_zones) == 1 else None


def unique_in_batch(items: list[Incoming], window: timedelta) -> list[Incoming]:
    """The first of each repeat within the batch (the database checks the stored ones)."""
    seen: dict[str, datetime] = {}
    out = []
    for it in items:
        key, at = it.dedup_key, it.received_at
        first = seen.get(key)
        if first is not None and abs(at - first) < window:
            continue
        seen[key] = at
        out.append(it)
    return out


_INSERT = """
WITH x AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::int[], $7::bool[], $8::timestamptz[], $9::text[], $10::text[],
                         $11::text[], $12::int[])
        AS x(link, sender, recipient, text, coding, parts, complete, received_at, dedup_key,
             keyword, status, ord)
)
INSERT INTO sms_inbound (link, sender, recipient, contact_id, text, coding, parts, complete,
                         received_at, dedup_key, keyword, status)
SELECT x.link, x.sender, x.recipient, c.id, x.text, x.coding, x.parts, x.complete,
       x.received_at, x.dedup_key, x.keyword, x.status
FROM x LEFT JOIN contacts c ON c.phone = x.sender
WHERE NOT EXISTS (SELECT 1 FROM sms_inbound i WHERE i.dedup_key = x.dedup_key
                  AND i.received_at > x.received_at - $13::interval
                  AND i.received_at < x.received_at + $13::interval)
ORDER BY x.ord
RETURNING id, dedup_key, received_at, contact_id
"""


async def store_batch(
    conn: AnyConnection, items: list[Incoming], *, window: timedelta
) -> list[Stored]:
    """Store what is new of `items` (see the module doc); the stored ones, in order."""
    items = unique_in_batch(items, window)
    async with conn.transaction():
        keys = sorted({it.dedup_key for it in items})
        await conn.execute(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT hashtextextended(k, 16) AS h"
            " FROM unnest($1::text[]) k ORDER BY 1) s", keys,
        )  # fmt: skip
        senders = {it.sender: it.time_zone for it in items if it.sender.startswith("+")}
        await conn.execute(
            "INSERT INTO contacts (phone, time_zone, sources)"
            " SELECT p, z, '{\"phone\": \"sms\"}'::jsonb FROM unnest($1::text[], $2::text[])"
            " AS s(p, z) ON CONFLICT (phone) DO NOTHING",
            list(senders), list(senders.values()),
        )  # fmt: skip
        cols: tuple[list[Any], ...] = tuple([] for _ in range(12))
        for n, it in enumerate(items):
            for col, value in zip(cols, (
                it.link, it.sender, it.recipient, it.text, it.coding, it.parts, it.complete,
                it.received_at, it.dedup_key, it.keyword, it.status, n,
            ), strict=True):  # fmt: skip
                col.append(value)
        rows = await conn.fetch(_INSERT, *cols, window)
        by_key = {(it.dedup_key, it.received_at): it for it in items}
        stored = sorted(
            (
                Stored(r["id"], r["contact_id"], by_key[r["dedup_key"], r["received_at"]])
                for r in rows
            ),
            key=lambda s: s.id,
        )
        await _keyword_consent(conn, stored)
        held = [it.held for it in items if it.held is not None]
        if held:
            await conn.execute(
                "DELETE FROM sms_mo_parts p USING unnest($1::text[], $2::text[], $3::int[],"
                " $4::int[]) AS k(s, r, ref, total) WHERE (p.sender, p.recipient, p.ref,"
                " p.total) = (k.s, k.r, k.ref, k.total)",
                *(list(col) for col in zip(*held, strict=True)),
            )  # fmt: skip
    if len(stored) < len(items):
        log.info("sms.mo.repeats", stored=len(stored), repeats=len(items) - len(stored))
    return stored


async def hold_parts(conn: Conn, parts: list[HeldPart]) -> None:
    """Parts of long messages not yet whole; a part stored before (the SMSC sent it again)
    is kept as it was."""
    await conn.executemany(
        "INSERT INTO sms_mo_parts (sender, recipient, ref, total, seq, data_coding, payload,"
        " link, first_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        [(*p.key, p.seq, p.data_coding, p.payload, p.link, p.first_at) for p in parts],
    )


async def held_parts(conn: Conn) -> list[HeldPart]:
    rows = await conn.fetch(
        "SELECT sender, recipient, ref, total, seq, data_coding, payload, link, first_at"
        " FROM sms_mo_parts ORDER BY first_at, seq"
    )
    return [
        HeldPart((r["sender"], r["recipient"], r["ref"], r["total"]), r["seq"],
                 r["data_coding"], r["payload"], r["link"], r["first_at"])
        for r in rows
    ]  # fmt: skip


async def _keyword_consent(conn: AnyConnection, stored: list[Stored]) -> None:
    """STOP (and the operator's opt-in/opt-out words) in the same transaction as the message:
    the consent history says why, with the message as the proof."""
    rows = [
        (s.contact_id, s.item.consent.value, {
            "inbound_id": s.id, "keyword": s.item.keyword, "text": s.item.text,
            "sender": s.item.sender, "link": s.item.link,
            "received_at": s.item.received_at.isoformat(),
        })
        for s in stored if s.item.consent is not None and s.contact_id is not None
    ]  # fmt: skip
    if rows:
        await conn.executemany(
            "INSERT INTO consent_events (contact_id, channel, purpose, status, method, proof)"
            " VALUES ($1, 'sms', 'marketing', $2, 'sms_keyword', $3)",
            rows,
        )
        log.info("sms.keyword.consent", contacts=len(rows))


# --- replies ---


async def start_reply(
    conn: Conn, inbound_id: int, *, user_id: int | None, kind: str, text: str
) -> tuple[int, str] | None:
    """The reply's row, written `sending` before the send: (reply id, phone), or None when
    there is no such message."""
    row = await conn.fetchrow(
        "INSERT INTO sms_replies (inbound_id, contact_id, phone, user_id, kind, text)"
        " SELECT id, contact_id, sender, $2, $3, $4 FROM sms_inbound WHERE id = $1"
        " RETURNING id, phone",
        inbound_id, user_id, kind, text,
    )  # fmt: skip
    return (row["id"], row["phone"]) if row else None


async def finish_reply(
    conn: Conn, reply_id: int, *, state: str, parts: int, provider_id: str | None,
    error: str | None,
) -> None:  # fmt: skip
    """The send's outcome; a receipt's state written meanwhile (it may come first) stays."""
    await conn.execute(
        "UPDATE sms_replies SET state = CASE WHEN state = 'sending' THEN $2 ELSE state END,"
        " parts = $3, provider_id = $4, error = coalesce(error, $5),"
        " sent_at = CASE WHEN $2 = 'sent' THEN now() END WHERE id = $1",
        reply_id, state, parts, provider_id, error,
    )  # fmt: skip


async def report_reply(
    conn: Conn, reply_id: int, *, state: str, reason: str | None
) -> dict[str, Any] | None:
    """A reply's final delivery state from its receipts (delivered, failed, expired): its
    row's inbound_id, kind and state, or None when it is not awaiting one."""
    row = await conn.fetchrow(
        "UPDATE sms_replies SET state = $2, error = $3, reported_at = now()"
        " WHERE id = $1 AND state IN ('sending', 'sent') RETURNING inbound_id, kind, state",
        reply_id, state, reason,
    )  # fmt: skip
    return dict(row) if row else None


async def replies_awaiting_reports(conn: Conn) -> list[asyncpg.Record]:
    """Replies the SMSC took and whose receipts have not come (id, provider_id, sent_at): a
    reply sent before a restart still gets its receipt matched after it."""
    return list(await conn.fetch(
        "SELECT id, provider_id, sent_at FROM sms_replies"
        " WHERE state = 'sent' AND provider_id IS NOT NULL AND sent_at IS NOT NULL"
    ))  # fmt: skip


async def settle_stale_replies(conn: Conn, older_than: timedelta) -> int:
    """Replies left `sending` by a process that died mid-send become `unknown` (never sent
    again: the SMSC may have taken them). Only rows older than any send takes, so another
    running ccd's replies in flight are left alone."""
    n = await conn.fetchval(
        "WITH s AS (UPDATE sms_replies SET state = 'unknown',"
        " error = 'ccd stopped before the SMSC answered'"
        " WHERE state = 'sending' AND created_at < now() - $1::interval RETURNING 1)"
        " SELECT count(*) FROM s", older_than,
    )  # fmt: skip
    return int(n)


# --- the inbox ---

_MESSAGE = """
SELECT i.id, i.received_at, i.link, i.sender, i.recipient, i.contact_id, i.text, i.coding,
       i.parts, i.complete, i.keyword, i.status, i.assigned_at, i.done_at,
       au.login AS assigned_to, du.login AS done_by,
       nullif(concat_ws(' ', c.first_name, c.last_name), '') AS contact_name,
       (SELECT count(*) FROM sms_replies r WHERE r.inbound_id = i.id AND r.state <> 'failed')
           AS replies
FROM sms_inbound i
LEFT JOIN contacts c ON c.id = i.contact_id
LEFT JOIN users au ON au.id = i.assigned_user_id
LEFT JOIN users du ON du.id = i.done_user_id
"""


@dataclass(frozen=True, slots=True)
class InboxFilter:
    code: str | None = None  # a keyword's code; "" = messages that matched none
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100


async def list_inbox(conn: Conn, f: InboxFilter) -> list[dict[str, Any]]:
    """Newest first. Only the filters given are in the query, so each is an index range
    (received_at; keyword, received_at; status, received_at) whatever the others are."""
    where, args = inbox_where(f)
    args.append(f.limit)
    rows = await conn.fetch(
        f"{_MESSAGE} WHERE {where} ORDER BY i.received_at DESC, i.id DESC LIMIT ${len(args)}",
        *args,
    )
    return [dict(r) for r in rows]


def inbox_where(f: InboxFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a filter over sms_inbound `i`, and its arguments."""
    clauses, args = ["true"], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if f.code is not None:
        clauses.append(f"i.keyword = upper({arg(f.code)})" if f.code else "i.keyword IS NULL")
    if f.statuses:
        clauses.append(f"i.status = ANY({arg(list(f.statuses))}::text[])")
    if f.since is not None:
        clauses.append(f"i.received_at >= {arg(f.since)}")
    if f.until is not None:
        clauses.append(f"i.received_at < {arg(f.until)}")
    if f.before_id is not None:  # the next page: older than that message, in list order
        clauses.append(f"(i.received_at, i.id) < (SELECT received_at, id FROM sms_inbound"
                       f" WHERE id = {arg(f.before_id)})")  # fmt: skip
    return " AND ".join(clauses), args


async def messages_by_id(conn: Conn, ids: list[int]) -> list[dict[str, Any]]:
    rows = await conn.fetch(_MESSAGE + "WHERE i.id = ANY($1::bigint[]) ORDER BY i.id", ids)
    return [dict(r) for r in rows]


async def get_message(conn: Conn, inbound_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(_MESSAGE + "WHERE i.id = $1", inbound_id)
    return dict(row) if row else None


async def replies_of(conn: Conn, inbound_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT r.id, r.created_at, r.sent_at, r.kind, r.text, r.state, r.parts,"
        " r.provider_id, r.error, u.login AS user_login FROM sms_replies r"
        " LEFT JOIN users u ON u.id = r.user_id WHERE r.inbound_id = $1 ORDER BY r.id",
        inbound_id,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def sms_history(conn: Conn, contact_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """The contact's last `limit` SMS both ways (their messages, the replies), oldest first."""
    rows = await conn.fetch(
        """SELECT * FROM (
               SELECT 'in' AS direction, id AS inbound_id, received_at AS at, text, keyword,
                      status AS state FROM sms_inbound WHERE contact_id = $1
               UNION ALL
               SELECT 'out', inbound_id, created_at, text, kind, state FROM sms_replies
               WHERE contact_id = $1
               ORDER BY at DESC LIMIT $2) h
           ORDER BY at""",
        contact_id, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


class InboxError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def assign(conn: Conn, inbound_id: int, user_login: str | None) -> None:
    """To a manager (by login), or back to the open inbox (None)."""
    user_id = None
    if user_login is not None:
        user_id = await conn.fetchval(
            "SELECT id FROM users WHERE login = $1 AND NOT disabled"
            " AND role IN ('manager', 'supervisor', 'admin')", user_login,
        )  # fmt: skip
        if user_id is None:
            raise InboxError(400, f"login: no manager, supervisor or admin {user_login!r}")
    status = await conn.fetchval(
        "UPDATE sms_inbound SET assigned_user_id = $2,"
        " assigned_at = CASE WHEN $2::int IS NULL THEN NULL ELSE now() END,"
        " status = CASE WHEN $2::int IS NULL THEN 'new' ELSE 'assigned' END"
        " WHERE id = $1 AND status IN ('new', 'assigned') RETURNING status",
        inbound_id, user_id,
    )  # fmt: skip
    if status is None:
        await _explain(conn, inbound_id, "assigned")
    log.info("sms.inbox.assigned", inbound_id=inbound_id, login=user_login)


async def mark_done(conn: Conn, inbound_id: int, user_id: int | None) -> None:
    done = await conn.fetchval(
        "UPDATE sms_inbound SET status = 'done', done_at = now(), done_user_id = $2"
        " WHERE id = $1 AND status IN ('new', 'assigned') RETURNING id",
        inbound_id, user_id,
    )  # fmt: skip
    if done is None:
        await _explain(conn, inbound_id, "done")
    log.info("sms.inbox.done", inbound_id=inbound_id, user_id=user_id)


async def _explain(conn: Conn, inbound_id: int, what: str) -> None:
    status = await conn.fetchval("SELECT status FROM sms_inbound WHERE id = $1", inbound_id)
    if status is None:
        raise InboxError(404, "no such message")
    raise InboxError(409, f"the message is {status}; it cannot be {what}")
