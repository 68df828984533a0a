"""Mailings in PostgreSQL: definition, status (with NOTIFY), the candidates query, message
claiming under the frequency cap, and settling what a dead process left in `sending`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

import asyncpg

from ccd.log import get_logger
from ccd.messaging import tokens
from ccd.messaging.segments import compile_rules
from ccd.messaging.spec import ChannelTemplate, MailingSpec
from ccd.messaging.templates import variables

log = get_logger(__name__)

MAILING_CHANNEL = "ccd_mailings"
STATUSES = ("draft", "running", "paused", "stopped", "completed")
_MOVES = {
    "draft": {"running", "stopped"},
    "running": {"paused", "stopped", "completed"},
    "paused": {"running", "stopped"},
    "stopped": set(),
    "completed": set(),
}
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


class MailingError(ValueError):
    """A mailing that does not exist, or a move its status forbids; the message says so."""


@dataclass(frozen=True, slots=True)
class Variant:
    id: int
    position: int
    segment: str | None
    rules: list[str]
    channels: list[str]
    templates: dict[str, ChannelTemplate]


@dataclass(frozen=True, slots=True)
class Mailing:
    id: int
    name: str
    purpose: str
    status: str
    require_opt_in: bool
    cap_days: int | None
    hours_start: time
    hours_end: time
    time_zone: str
    unsubscribe_key: str
    planned: bool
    variants: list[Variant]
    confirmation: dict[str, ChannelTemplate] | None = None  # double opt-in

    @property
    def marketing(self) -> bool:
        return self.purpose == "marketing"


async def create_mailing(
    conn: Conn,
    name: str,
    purpose: str,
    spec: MailingSpec,
    *,
    require_opt_in: bool = True,
    cap_days: int | None = None,
    hours: tuple[time, time] = (time(9), time(21)),
    time_zone: str = "UTC",
) -> int:
    async with conn.transaction():
        segments = {r["name"]: r["id"] for r in await conn.fetch("SELECT id, name FROM segments")}
        for v in spec.variants:
            if v.segment is not None and v.segment not in segments:
                raise MailingError(
                    f"variant segment {v.segment!r}: no such segment (see `ccd segment list`)"
                )
        try:
            mid: int = await conn.fetchval(
                "INSERT INTO mailings (name, purpose, require_opt_in, cap_days, hours_start,"
                " hours_end, time_zone, unsubscribe_key, confirmation)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                name, purpose, require_opt_in, cap_days, hours[0], hours[1], time_zone,
                tokens.new_key(),
                {c: t.model_dump() for c, t in spec.confirmation.items()}
                if spec.confirmation else None,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise MailingError(f"a mailing named {name!r} exists already") from None
        await conn.executemany(
            "INSERT INTO mailing_variants (mailing_id, position, segment_id, channels, templates)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (mid, i, segments.get(v.segment) if v.segment else None, list(v.channels),
                 {c: t.model_dump() for c, t in v.templates.items()})
                for i, v in enumerate(spec.variants)
            ],
        )  # fmt: skip
    log.info("mailing.created", mailing_id=mid, name=name, purpose=purpose)
    return mid


async def load_mailing(conn: Conn | asyncpg.Pool, name_or_id: str | int) -> Mailing:
    col = "id" if isinstance(name_or_id, int) else "name"
    row = await conn.fetchrow(f"SELECT * FROM mailings WHERE {col} = $1", name_or_id)
    if row is None:
        raise MailingError(f"no mailing named {name_or_id!r} (see `ccd mailing list`)")
    variants = [
        Variant(
            v["id"],
            v["position"],
            v["segment"],
            v["rules"] or [],
            v["channels"],
            {c: ChannelTemplate.model_validate(t) for c, t in v["templates"].items()},
        )  # fmt: skip
        for v in await conn.fetch(
            "SELECT v.*, s.name AS segment, s.rules FROM mailing_variants v"
            " LEFT JOIN segments s ON s.id = v.segment_id WHERE v.mailing_id = $1"
            " ORDER BY v.position",
            row["id"],
        )
    ]
    return Mailing(
        row["id"], row["name"], row["purpose"], row["status"], row["require_opt_in"],
        row["cap_days"], row["hours_start"], row["hours_end"], row["time_zone"],
        row["unsubscribe_key"], row["planned_at"] is not None, variants,
        {c: ChannelTemplate.model_validate(t) for c, t in row["confirmation"].items()}
        if row["confirmation"] else None,
    )  # fmt: skip


async def set_status(conn: Conn, name: str, target: str) -> tuple[str, str]:
    """Move the mailing and NOTIFY MAILING_CHANNEL in one transaction; returns (old, new)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status FROM mailings WHERE name = $1 FOR NO KEY UPDATE", name
        )
        if row is None:
            raise MailingError(f"no mailing named {name!r} (see `ccd mailing list`)")
        old = row["status"]
        if old == target:
            return old, target
        if target not in _MOVES[old]:
            raise MailingError(f"mailing {name!r} is {old}: it cannot be {target}")
        await conn.execute(
            "UPDATE mailings SET status = $2, updated_at = now() WHERE id = $1", row["id"], target
        )
        await conn.execute(
            "SELECT pg_notify($1, $2)", MAILING_CHANNEL, json.dumps({"id": row["id"]})
        )
    log.info("mailing.status", mailing_id=row["id"], name=name, old=old, new=target)
    return old, target


def template_fields(mailing: Mailing) -> list[str]:
    """The contact fields (`{fields.x}`) any of the mailing's templates uses, in a fixed order:
    the candidates read just these, as text, not each contact's whole JSON."""
    templates = [t for v in mailing.variants for t in v.templates.values()]
    templates += (mailing.confirmation or {}).values()
    names = {
        name.removeprefix("fields.")
        for t in templates
        for text in [*t.text.values(), t.fallback, t.subject or ""]
        for name in variables(text)
        if name.startswith("fields.")
    }
    return sorted(names)


def candidates_query(mailing: Mailing) -> tuple[str, list[Any]]:
    """Contacts of the mailing's variants (the first variant whose segment holds), with what
    the channel choice needs: consent per channel for the purpose, blacklist, last marketing
    message, and the values of the fields its templates use (template_fields' order)."""
    params: list[Any] = [mailing.purpose, template_fields(mailing)]
    whens = [
        f"WHEN {compile_rules(v.rules, params) if v.segment else 'TRUE'} THEN {i}"
        for i, v in enumerate(mailing.variants)
    ]
    consent = ", ".join(
        f"max(status) FILTER (WHERE channel = '{c}') AS {c}" for c in ("sms", "email", "fax")
    )
    sql = f"""
    WITH consent AS (
        SELECT contact_id, {consent} FROM (
            SELECT DISTINCT ON (contact_id, channel) contact_id, channel, status
            FROM consent_events WHERE purpose = $1 ORDER BY contact_id, channel, id DESC
        ) last GROUP BY contact_id
    ), picked AS (
        SELECT c.*, CASE {" ".join(whens)} END AS variant FROM contacts c
    )
    SELECT p.id, p.phone, p.email, p.fax, p.first_name, p.last_name, p.language,
           ARRAY(SELECT p.fields ->> f FROM unnest($2::text[]) WITH ORDINALITY AS u(f, n)
                 ORDER BY n) AS field_values,
           p.preferred_channels, p.time_zone, p.email_bad_at IS NOT NULL AS email_bad,
           p.variant, k.sms AS consent_sms, k.email AS consent_email, k.fax AS consent_fax,
           EXISTS (SELECT 1 FROM blacklist b WHERE b.phone = p.phone) AS phone_blacklisted,
           EXISTS (SELECT 1 FROM blacklist b WHERE b.phone = p.fax AND b.reason <> 'fax')
               AS fax_blacklisted,
           cm.last_at AS last_marketing_at
    FROM picked p
    LEFT JOIN consent k ON k.contact_id = p.id
    LEFT JOIN contact_marketing cm ON cm.contact_id = p.id
    WHERE p.variant IS NOT NULL
    ORDER BY p.id
    """
    return sql, params


async def candidates(
    conn: Conn, mailing: Mailing, prefetch: int = 5000
) -> AsyncIterator[asyncpg.Record]:
    """Must run inside a transaction (a server-side cursor)."""
    sql, params = candidates_query(mailing)
    async for row in conn.cursor(sql, *params, prefetch=prefetch):
        yield row


MESSAGE_COLUMNS = (
    "mailing_id", "variant_id", "contact_id", "kind", "channel", "address", "subject", "body",
    "state",
    "reason", "not_before",
)  # fmt: skip


async def write_messages(
    conn: Conn, rows: Sequence[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]]
) -> None:
    await conn.copy_records_to_table("mailing_messages", records=rows, columns=MESSAGE_COLUMNS)


# Due messages of one mailing, locked; the ones whose consent, blacklist or address changed
# since planning are skipped with the reason; marketing ones must win their contact's cap row.
# A number blacklisted because a fax answered a call (reason 'fax') may still get faxes.
_CLAIM = """
WITH due AS (
    SELECT mm.id, mm.contact_id, mm.channel, mm.address, mm.kind,
        (SELECT status FROM consent_events ce WHERE ce.contact_id = mm.contact_id
           AND ce.channel = mm.channel AND ce.purpose = $3 ORDER BY ce.id DESC LIMIT 1) AS consent,
        EXISTS (SELECT 1 FROM blacklist b WHERE b.phone = mm.address
                AND (mm.channel <> 'fax' OR b.reason <> 'fax')) AS blacklisted,
        (SELECT email_bad_at IS NOT NULL FROM contacts c WHERE c.id = mm.contact_id) AS bad
    FROM mailing_messages mm
    WHERE mm.mailing_id = $1 AND mm.state = 'planned' AND mm.not_before <= now()
    ORDER BY mm.not_before, mm.id LIMIT $2 FOR UPDATE SKIP LOCKED
)
SELECT id, contact_id, channel, address, kind,
       CASE WHEN consent = 'opt_out' THEN 'opted_out'
            WHEN kind = 'confirmation' AND consent = 'opt_in' THEN 'already_confirmed'
            WHEN kind = 'confirmation' AND consent IS DISTINCT FROM 'pending' THEN 'no_consent'
            WHEN kind = 'content' AND $4 AND consent IS DISTINCT FROM 'opt_in' THEN 'no_consent'
            WHEN blacklisted AND channel <> 'email' THEN 'blacklisted'
            WHEN bad AND channel = 'email' THEN 'no_address'
       END AS reason
FROM due
"""

_CAP = """
INSERT INTO contact_marketing AS cm (contact_id, last_at, message_id)
SELECT * FROM unnest($1::bigint[], array_fill(now(), ARRAY[cardinality($1)]), $2::bigint[])
ON CONFLICT (contact_id) DO UPDATE
SET last_at = excluded.last_at, message_id = excluded.message_id, prev_at = cm.last_at
WHERE cm.last_at <= now() - make_interval(days => $3)
RETURNING message_id
"""


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    address: str
    kind: str = "content"
    attempt: int = 1


async def claim(
    conn: Conn, mailing: Mailing, instance: str, limit: int, cap_days: int
) -> list[Claimed]:
    """Mark up to `limit` due messages `sending` (by this instance) in one transaction, and
    skip those that may no longer go out. Returns the ones to send now; each is stamped
    `sending_at` only when it is handed to its channel (hand_over)."""
    async with conn.transaction():
        rows = await conn.fetch(
            _CLAIM, mailing.id, limit, mailing.purpose, mailing.marketing and mailing.require_opt_in
        )
        skip = {r["id"]: r["reason"] for r in rows if r["reason"]}
        go = [r for r in rows if not r["reason"]]
        capped = [r for r in go if r["kind"] == "content"]  # a confirmation is not marketing
        if mailing.marketing and capped:
            won = {
                r["message_id"]
                for r in await conn.fetch(
                    _CAP, [r["contact_id"] for r in capped], [r["id"] for r in capped], cap_days
                )
            }
            skip.update({r["id"]: "capped" for r in capped if r["id"] not in won})
            go = [r for r in go if r["id"] not in skip]
        if skip:
            await conn.execute(
                "UPDATE mailing_messages m SET state = 'skipped', reason = s.reason,"
                " ended_at = now() FROM unnest($1::bigint[], $2::text[]) s(id, reason)"
                " WHERE m.id = s.id",
                list(skip), list(skip.values()),
            )  # fmt: skip
        attempts: dict[int, int] = {}
        if go:
            attempts = {
                r["id"]: r["attempts"]
                for r in await conn.fetch(
                    "UPDATE mailing_messages SET state = 'sending', sending_at = NULL,"
                    " instance = $2, attempts = attempts + 1 WHERE id = ANY($1::bigint[])"
                    " RETURNING id, attempts",
                    [r["id"] for r in go], instance,
                )  # fmt: skip
            }
    return [
        Claimed(r["id"], r["channel"], r["address"], r["kind"], attempts[r["id"]]) for r in go
    ]


async def hand_over(conn: Conn | asyncpg.Pool, message_id: int) -> asyncpg.Record | None:
    """Stamp a claimed message `sending_at` (committed before its channel is given it) and
    return its subject, body and the mailing's unsubscribe key; None if it is no longer
    claimed. A message claimed but not stamped never left: after a crash it goes out again."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE mailing_messages m SET sending_at = now() FROM mailings g"
        " WHERE m.id = $1 AND g.id = m.mailing_id AND m.state = 'sending'"
        " RETURNING m.subject, m.body, g.unsubscribe_key",
        message_id,
    )
    return row


async def record_result(
    conn: Conn | asyncpg.Pool,
    message_id: int,
    state: str,
    *,
    provider_id: str | None = None,
    reason: str | None = None,
    retry_after_s: float | None = None,
    pages: int | None = None,
    parts: int | None = None,
) -> None:
    """What became of a send: sent/delivered/failed/unknown, or back to planned (retry)."""
    if retry_after_s is not None:
        await conn.execute(
            "UPDATE mailing_messages SET state = 'planned', instance = NULL, reason = $2,"
            " provider_id = coalesce($4, provider_id),"
            " not_before = now() + make_interval(secs => $3) WHERE id = $1",
            message_id, reason, retry_after_s, provider_id,
        )  # fmt: skip
        return
    await conn.execute(
        """UPDATE mailing_messages SET state = $2, provider_id = coalesce($3, provider_id),
           reason = $4, pages = coalesce($5, pages), parts = coalesce($6, parts),
           sent_at = CASE WHEN $2 IN ('sent', 'delivered') THEN coalesce(sent_at, now()) END,
           delivered_at = CASE WHEN $2 = 'delivered' THEN now() END,
           ended_at = CASE WHEN $2 <> 'sent' THEN now() END
           WHERE id = $1""",
        message_id, state, provider_id, reason, pages, parts,
    )  # fmt: skip


async def record_report(
    conn: Conn | asyncpg.Pool, message_id: int, state: str, reason: str | None
) -> bool:
    """A channel's later report (delivered, failed, expired) on a `sent` message. A message
    in any other state keeps it: an `unknown` one is not known to have gone out whole."""
    done = await conn.fetchval(
        """UPDATE mailing_messages SET state = $2, reason = $3,
           delivered_at = CASE WHEN $2 = 'delivered' THEN now() END, ended_at = now()
           WHERE id = $1 AND state = 'sent' RETURNING id""",
        message_id, state, reason,
    )  # fmt: skip
    return done is not None


async def awaiting_reports(conn: Conn | asyncpg.Pool, channel: str) -> list[asyncpg.Record]:
    """Messages of a channel sent and still waiting for their report, with the channel's
    ids: an SMS sent before a restart still gets its receipt matched after it."""
    return list(await conn.fetch(
        "SELECT id, provider_id, sent_at FROM mailing_messages"
        " WHERE state = 'sent' AND channel = $1 AND provider_id IS NOT NULL",
        channel,
    ))  # fmt: skip


async def release_cap(conn: Conn | asyncpg.Pool, message_id: int) -> None:
    """A marketing message that did not go out gives its contact's cap row back."""
    await conn.execute(
        "DELETE FROM contact_marketing WHERE message_id = $1 AND prev_at IS NULL", message_id
    )
    await conn.execute(
        "UPDATE contact_marketing SET last_at = prev_at, prev_at = NULL WHERE message_id = $1",
        message_id,
    )


async def release(pool: asyncpg.Pool, message_ids: Sequence[int]) -> None:
    """Claimed messages not handed to a channel (a pause came first): planned again, and
    their cap rows given back."""
    if not message_ids:
        return
    async with pool.acquire() as conn, conn.transaction():
        await _release(conn, message_ids)


async def _release(conn: Conn, message_ids: Sequence[int]) -> None:
    for message_id in message_ids:
        await release_cap(conn, message_id)
    await conn.execute(
        "UPDATE mailing_messages SET state = 'planned', instance = NULL, sending_at = NULL,"
        " attempts = attempts - 1 WHERE id = ANY($1::bigint[]) AND state = 'sending'",
        list(message_ids),
    )


async def settle_orphans(
    pool: asyncpg.Pool, alive: Callable[[str], Awaitable[bool]], own: str
) -> int:
    """Messages left in `sending` by a process that is gone: those it had handed to a channel
    become `unknown` (they may have gone out, so they are never sent again); those it had
    only claimed are planned again. Returns how many became unknown."""
    instances = [
        r["instance"]
        for r in await pool.fetch(
            "SELECT DISTINCT instance FROM mailing_messages WHERE state = 'sending'"
        )
    ]
    settled = 0
    for instance in instances:
        if instance == own or await alive(instance):
            continue
        async with pool.acquire() as conn, conn.transaction():
            claimed = [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM mailing_messages WHERE state = 'sending' AND instance = $1"
                    " AND sending_at IS NULL FOR UPDATE",
                    instance,
                )
            ]
            await _release(conn, claimed)
            rows = await conn.fetch(
                "UPDATE mailing_messages SET state = 'unknown', ended_at = now(),"
                " reason = 'ccd stopped while sending' WHERE state = 'sending' AND instance = $1"
                " RETURNING id, mailing_id",
                instance,
            )
        if claimed:
            log.info("mailing.claims_released", instance=instance, messages=len(claimed))
        settled += len(rows)
        for r in rows:
            log.warning("mailing.message_unknown", message_id=r["id"], mailing_id=r["mailing_id"],
                        instance=instance)  # fmt: skip
    return settled


async def counts(conn: Conn | asyncpg.Pool, mailing_id: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT state, count(*) AS n FROM mailing_messages WHERE mailing_id = $1 GROUP BY state",
        mailing_id,
    )
    return {r["state"]: r["n"] for r in rows}


async def left_out(conn: Conn, mailing_id: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT reason, count(*) AS n FROM mailing_messages WHERE mailing_id = $1"
        " AND state = 'skipped' GROUP BY reason ORDER BY reason",
        mailing_id,
    )
    return {r["reason"]: r["n"] for r in rows}


async def sms_parts(conn: Conn | asyncpg.Pool, mailing_id: int) -> int:
    """SMS parts the mailing's messages went out as (carriers bill per part)."""
    n = await conn.fetchval(
        "SELECT coalesce(sum(parts), 0) FROM mailing_messages WHERE mailing_id = $1", mailing_id
    )
    return int(n)
