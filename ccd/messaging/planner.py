"""Planning a mailing: every contact of its variants gets one row, a message (channel,
address, rendered text, earliest send time in their local sending hours) or the reason they
are left out. `preview` runs the same choice without writing anything."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ccd.domain.calling_hours import ALL_DAYS, CallingHours
from ccd.log import get_logger
from ccd.messaging.choice import LeftOut, Recipient, choose
from ccd.messaging.sms.encoding import count_parts
from ccd.messaging.templates import render, render_or_fallback
from ccd.store import mailings as store
from ccd.store.mailings import Mailing, Variant

log = get_logger(__name__)

CONFIRM_URL = "{confirm_url}"  # in a confirmation's text until the sender signs the link


@dataclass(frozen=True, slots=True)
class Planned:
    contact_id: int
    variant: Variant
    channel: str | None
    reason: LeftOut | None
    address: str | None = None
    subject: str | None = None
    body: str | None = None
    fallback: bool = False  # a variable was missing: the plain fallback text went in
    time_zone: str | None = None
    kind: str = "content"  # or "confirmation" (double opt-in)


def decide(
    row: asyncpg.Record | Mapping[str, Any],
    mailing: Mailing,
    now: datetime,
    cap_days: int,
    fields: Sequence[str],
) -> Planned:
    """One candidate row (store.candidates) -> its planned message or why it is left out.
    `fields`: store.template_fields(mailing), the names of the row's field_values."""
    variant = mailing.variants[row["variant"]]
    last = row["last_marketing_at"]
    r = Recipient(
        addresses={
            "sms": row["phone"],
            "fax": row["fax"],
            "email": None if row["email_bad"] else row["email"],
        },  # fmt: skip
        consent={
            "sms": row["consent_sms"],
            "email": row["consent_email"],
            "fax": row["consent_fax"],
        },  # fmt: skip
        preferred=row["preferred_channels"],
        blacklisted=frozenset(
            [
                *(["sms"] if row["phone_blacklisted"] else []),
                *(["fax"] if row["fax_blacklisted"] else []),
            ]
        ),  # fmt: skip
        capped=last is not None and last > now - timedelta(days=cap_days),
    )
    confirming = mailing.confirmation or {}
    channel, why = choose(
        r, variant.channels, marketing=mailing.marketing, require_opt_in=mailing.require_opt_in,
        confirm_pending=confirming.keys(),
    )  # fmt: skip
    if channel is None:
        return Planned(row["id"], variant, None, why)
    values = {
        "first_name": row["first_name"], "last_name": row["last_name"],
        "fields": dict(zip(fields, row["field_values"], strict=True)),
    }  # fmt: skip
    kind = "content"
    template = variant.templates[channel]
    if r.consent.get(channel) == "pending" and channel in confirming:
        # The link is the message's own: the sender puts it in (CONFIRM_URL stays as is).
        kind, template = "confirmation", confirming[channel]
        values["confirm_url"] = CONFIRM_URL
    text = render(template.for_language(row["language"]), values)
    subject = None
    if template.subject:
        subject = render_or_fallback(template.subject, template.subject, values)
    body = text if text is not None else render_or_fallback(template.fallback, "", values)
    return Planned(
        row["id"], variant, channel, None, r.addresses[channel], subject,
        body or template.fallback, text is None, row["time_zone"], kind,
    )  # fmt: skip


@dataclass
class SegmentPreview:
    recipients: Counter[str] = field(default_factory=Counter)  # channel -> contacts
    left_out: Counter[str] = field(default_factory=Counter)  # reason -> contacts
    fallbacks: Counter[str] = field(default_factory=Counter)  # channel -> fallback texts
    sms_parts: Counter[int] = field(default_factory=Counter)  # parts -> messages
    samples: dict[str, tuple[int, str | None, str]] = field(default_factory=dict)


@dataclass
class Preview:
    segments: dict[str, SegmentPreview]

    def total(self) -> int:
        return sum(sum(s.recipients.values()) for s in self.segments.values())


def _segment_label(v: Variant) -> str:
    return v.segment or "(everyone else)"


async def preview(conn: store.Conn, mailing: Mailing, cap_days: int) -> Preview:
    now = datetime.now(UTC)
    out: dict[str, SegmentPreview] = defaultdict(SegmentPreview)
    for v in mailing.variants:
        out[_segment_label(v)]  # every segment shows, even with nobody in it
    fields = store.template_fields(mailing)
    async with conn.transaction(readonly=True):
        async for row in store.candidates(conn, mailing):
            p = decide(row, mailing, now, cap_days, fields)
            seg = out[_segment_label(p.variant)]
            if p.channel is None:
                assert p.reason is not None
                seg.left_out[p.reason.value] += 1
                continue
            seg.recipients[p.channel] += 1
            if p.fallback:
                seg.fallbacks[p.channel] += 1
            if p.channel == "sms":
                seg.sms_parts[max(1, count_parts(p.body or ""))] += 1
            if p.channel not in seg.samples:
                seg.samples[p.channel] = (p.contact_id, p.subject, p.body or "")
    return Preview(dict(out))


class _SendTimes:
    """The earliest send time in each contact's zone, computed once per zone per plan."""

    def __init__(self, mailing: Mailing, now: datetime) -> None:
        self._hours = CallingHours(mailing.hours_start, mailing.hours_end, ALL_DAYS,
                                   mailing.time_zone)  # fmt: skip
        self._now = now
        self._by_zone: dict[str | None, datetime] = {}

    def at(self, zone: str | None) -> datetime:
        found = self._by_zone.get(zone)
        if found is None:
            found = self._by_zone[zone] = self._hours.next_allowed(self._now, zone)
        return found


def _rows(
    rows: list[asyncpg.Record],
    mailing: Mailing,
    now: datetime,
    cap_days: int,
    times: _SendTimes,
    left: Counter[str],
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    fields = store.template_fields(mailing)
    for row in rows:
        p = decide(row, mailing, now, cap_days, fields)
        if p.channel is None:
            assert p.reason is not None
            left[p.reason.value] += 1
            out.append((mailing.id, p.variant.id, p.contact_id, "content", None, None, None,
                        None, "skipped", p.reason.value, now))  # fmt: skip
        else:
            out.append((mailing.id, p.variant.id, p.contact_id, p.kind, p.channel, p.address,
                        p.subject, p.body, "planned", None, times.at(p.time_zone)))  # fmt: skip
    return out


async def plan(pool: asyncpg.Pool, mailing_id: int, cap_days: int, chunk: int = 5_000) -> int:
    """Write the mailing's message rows once (a second call, from another instance too, finds
    it planned and writes nothing). Returns the rows written.

    A pipeline over two connections: one reads the candidates, in chunks, while this one
    streams the decided and rendered rows in a single COPY, in the transaction that also marks
    the mailing planned (all rows or none). The COPY pulls rows as it sends them, so the
    server inserts one chunk while the next is decided."""
    left = Counter[str]()
    async with pool.acquire() as conn, conn.transaction():
        locked = await conn.fetchval(
            "SELECT planned_at IS NULL FROM mailings WHERE id = $1 FOR UPDATE", mailing_id
        )
        if not locked:
            return 0
        mailing = await store.load_mailing(conn, mailing_id)
        now = datetime.now(UTC)
        times = _SendTimes(mailing, now)
        chunks: asyncio.Queue[list[asyncpg.Record] | None] = asyncio.Queue(maxsize=3)
        reader = asyncio.create_task(_read(pool, mailing, chunks, chunk))
        written = 0

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            nonlocal written
            while (rows := await chunks.get()) is not None:
                decided = _rows(rows, mailing, now, cap_days, times, left)
                written += len(decided)
                for record in decided:
                    yield record

        try:
            await store.write_messages(conn, records())
            await reader
        finally:
            if not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        await conn.execute("UPDATE mailings SET planned_at = now() WHERE id = $1", mailing_id)
    log.info("mailing.planned", mailing_id=mailing_id, rows=written, left_out=dict(left))
    return written


async def _read(
    pool: asyncpg.Pool,
    mailing: Mailing,
    out: asyncio.Queue[list[asyncpg.Record] | None],
    chunk: int,
) -> None:
    try:
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            # One big read: the consent history sorts in memory, and JIT compiling the segment
            # expressions costs more than it saves here.
            await conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
            rows: list[asyncpg.Record] = []
            async for row in store.candidates(conn, mailing, prefetch=chunk):
                rows.append(row)
                if len(rows) >= chunk:
                    await out.put(rows)
                    rows = []
            await out.put(rows)
    finally:
        # Ends the COPY even when the read failed; plan() then raises the read's error and
        # its transaction writes nothing.
        await out.put(None)
