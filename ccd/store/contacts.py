"""Contacts in PostgreSQL: import a file (all or nothing), consent history, one person's view.

An import stages the valid rows, matches them to existing contacts by phone, then by e-mail,
updates the attributes the file gives (the rest stay), adds the new contacts, appends the
file's consent columns to the consent history, and links the leads with those numbers, all
in one transaction. Rejected rows go to the rejects file as `ccd campaign load` writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from ccd.log import get_logger
from ccd.messaging.contact_rows import ContactColumns, ContactRow, RowError, parse, resolve
from ccd.store.db import AnyConnection
from ccd.store.inbox import sms_history
from ccd.store.leads_import import Rejected, RejectsFile, default_rejects_path
from ccd.store.tabular import TableError, open_table

log = get_logger(__name__)

CHUNK = 5_000
_STAGE = "ccd_contact_stage"
_STAGE_COLUMNS = (
    "line", "phone", "email", "fax", "first_name", "last_name", "birth_date", "age_group",
    "gender", "language", "social_status", "time_zone", "preferred", "fields", "sources",
    "consent",
)  # fmt: skip


class ContactImportError(ValueError):
    """The file cannot be imported; nothing was written. The message says why."""


@dataclass(frozen=True, slots=True)
class ContactImportResult:
    rows: int
    created: int
    updated: int
    duplicates: int
    rejected: int
    consents: int
    leads_linked: int
    rejects_path: Path | None


def _record(row: ContactRow, source: str) -> tuple[Any, ...]:
    sources = json.dumps({name: source for name in row.attributes()})
    return (
        row.line, row.phone, row.email, row.fax, row.first_name, row.last_name, row.birth_date,
        row.age_group, row.gender, row.language, row.social_status, row.time_zone, row.preferred,
        json.dumps(row.fields), sources, json.dumps(row.consent),
    )  # fmt: skip


async def import_contacts(
    conn: asyncpg.Connection,
    path: Path,
    *,
    region: str | None = None,
    rejects_path: Path | None = None,
    source: str | None = None,
) -> ContactImportResult:
    source = source or f"import:{path.name}"
    try:
        with open_table(path) as table:
            try:
                cols = resolve(table.header)
            except RowError as exc:
                raise ContactImportError(f"{path}: {exc}") from None
            rejects = RejectsFile(
                rejects_path or default_rejects_path(path), table.header, table.delimiter
            )
            ok = False
            try:
                async with conn.transaction():
                    staged = await _stage(conn, table.rows, cols, region, source, rejects)
                    result = await _merge(conn, path.name)
                ok = True
            finally:
                saved = rejects.finish(ok)
    except TableError as exc:
        raise ContactImportError(str(exc)) from None
    out = ContactImportResult(
        rows=staged + rejects.count, rejected=rejects.count, rejects_path=saved, **result
    )
    log.info("contacts.imported", file=str(path), rows=out.rows, created=out.created,
             updated=out.updated, rejected=out.rejected, consents=out.consents)  # fmt: skip
    return out


async def _stage(
    conn: asyncpg.Connection,
    rows: Any,
    cols: ContactColumns,
    region: str | None,
    source: str,
    rejects: RejectsFile,
) -> int:
    await conn.execute(
        f"CREATE TEMP TABLE {_STAGE} (line int, phone text, email text, fax text,"
        " first_name text, last_name text, birth_date date, age_group text, gender text,"
        " language text, social_status text, time_zone text, preferred text[], fields text,"
        " sources text, consent text, contact_id bigint, is_new bool NOT NULL DEFAULT false)"
        " ON COMMIT DROP"
    )
    staged = 0
    batch: list[tuple[Any, ...]] = []
    rejected: list[Rejected] = []

    async def flush() -> None:
        nonlocal staged
        if batch:
            await conn.copy_records_to_table(_STAGE, records=batch, columns=_STAGE_COLUMNS)
            staged += len(batch)
            batch.clear()
        rejects.write(rejected)
        rejected.clear()

    for line, cells in rows:
        try:
            batch.append(_record(parse(line, cells, cols, region), source))
        except RowError as exc:
            rejected.append((line, str(exc), cells))
        if len(batch) >= CHUNK:
            await flush()
    await flush()
    return staged


async def _merge(conn: asyncpg.Connection, file_name: str) -> dict[str, int]:
    s = _STAGE
    # The first row of a person wins; later rows with the same phone or e-mail are dropped.
    dup = await conn.fetchval(
        f"""WITH d AS (DELETE FROM {s} x WHERE EXISTS (SELECT 1 FROM {s} y WHERE y.line < x.line
            AND (y.phone = x.phone OR y.email = x.email)) RETURNING 1) SELECT count(*) FROM d"""
    )
    await conn.execute(
        f"UPDATE {s} x SET contact_id = c.id FROM contacts c WHERE c.phone = x.phone"
    )
    await conn.execute(
        f"UPDATE {s} x SET contact_id = c.id FROM contacts c"
        " WHERE x.contact_id IS NULL AND c.email = x.email"
    )
    clash = await conn.fetchrow(
        f"SELECT x.line, x.email FROM {s} x JOIN contacts c ON c.email = x.email"
        " WHERE c.id <> x.contact_id ORDER BY x.line LIMIT 1"
    )
    if clash is not None:
        raise ContactImportError(
            f"{file_name}: line {clash['line']}: email {clash['email']!r} belongs to another"
            " contact than the row's phone number; nothing was imported"
        )
    updated = await conn.fetchval(
        f"""WITH u AS (UPDATE contacts c SET
            phone = coalesce(x.phone, c.phone), email = coalesce(x.email, c.email),
            fax = coalesce(x.fax, c.fax), first_name = coalesce(x.first_name, c.first_name),
            last_name = coalesce(x.last_name, c.last_name),
            birth_date = coalesce(x.birth_date, c.birth_date),
            age_group = coalesce(x.age_group, c.age_group), gender = coalesce(x.gender, c.gender),
            language = coalesce(x.language, c.language),
            social_status = coalesce(x.social_status, c.social_status),
            time_zone = coalesce(x.time_zone, c.time_zone),
            preferred_channels = CASE WHEN cardinality(x.preferred) > 0 THEN x.preferred
                                      ELSE c.preferred_channels END,
            fields = c.fields || x.fields::jsonb, sources = c.sources || x.sources::jsonb,
            updated_at = now()
            FROM {s} x WHERE x.contact_id = c.id RETURNING 1) SELECT count(*) FROM u"""
    )
    created = await conn.fetchval(
        f"""WITH n AS (INSERT INTO contacts (phone, email, fax, first_name, last_name, birth_date,
                age_group, gender, language, social_status, time_zone, preferred_channels,
                fields, sources)
            SELECT phone, email, fax, first_name, last_name, birth_date, age_group, gender,
                   language, social_status, time_zone, preferred, fields::jsonb, sources::jsonb
            FROM {s} WHERE contact_id IS NULL ORDER BY line RETURNING id, phone, email),
        m AS (UPDATE {s} x SET contact_id = n.id, is_new = true FROM n
              WHERE x.contact_id IS NULL
                AND (x.phone = n.phone OR (x.phone IS NULL AND x.email = n.email)) RETURNING 1)
        SELECT count(*) FROM m"""
    )
    consents = await conn.fetchval(
        f"""WITH i AS (INSERT INTO consent_events (contact_id, channel, purpose, status, method,
                proof)
            SELECT x.contact_id, kv.key, 'marketing', kv.value, 'import',
                   jsonb_build_object('file', $1::text, 'line', x.line, 'column',
                                      'consent_' || kv.key)
            FROM {s} x, jsonb_each_text(x.consent::jsonb) kv ORDER BY x.line RETURNING 1)
        SELECT count(*) FROM i""",
        file_name,
    )
    linked = await conn.fetchval(
        f"""WITH l AS (UPDATE leads SET contact_id = x.contact_id FROM {s} x
            WHERE leads.phone = x.phone AND leads.contact_id IS DISTINCT FROM x.contact_id
            RETURNING 1) SELECT count(*) FROM l"""
    )
    return {"created": created, "updated": updated, "duplicates": dup, "consents": consents,
            "leads_linked": linked}  # fmt: skip


async def find_contact(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """By E.164 phone (as given) or e-mail (any case)."""
    return await conn.fetchrow(
        "SELECT * FROM contacts WHERE phone = $1 OR email = lower($1) LIMIT 1", key.strip()
    )


async def contact_of_phone(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
                           phone: str) -> int:  # fmt: skip
    """The contact of an E.164 number, created when there is none, with every lead of that
    number linked to it (the dialer checks a lead's call consent through its contact)."""
    async with conn.transaction():
        contact_id: int = await conn.fetchval(
            'INSERT INTO contacts (phone, sources) VALUES ($1, \'{"phone": "call"}\')'
            " ON CONFLICT (phone) DO UPDATE SET phone = excluded.phone RETURNING id",
            phone,
        )
        await conn.execute(
            "UPDATE leads SET contact_id = $1 WHERE phone = $2 AND contact_id IS NULL",
            contact_id, phone,
        )  # fmt: skip
    return contact_id


async def record_consent(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    contact_id: int,
    channels: Sequence[str],
    purpose: str,
    status: str,
    method: str,
    proof: dict[str, Any],
) -> None:
    """Append one history row per channel; nothing is ever overwritten."""
    await conn.executemany(
        "INSERT INTO consent_events (contact_id, channel, purpose, status, method, proof)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(contact_id, ch, purpose, status, method, proof) for ch in channels],
    )
    log.info("consent.recorded", contact_id=contact_id, channels=list(channels),
             purpose=purpose, status=status, method=method)  # fmt: skip


async def contact_history(conn: AnyConnection, contact_id: int) -> dict[str, list[Any]]:
    """Consent rows, calls (attempts of its leads), mailing messages and SMS both ways (the
    last 200), oldest first."""
    consent = await conn.fetch(
        "SELECT at, channel, purpose, status, method, proof FROM consent_events"
        " WHERE contact_id = $1 ORDER BY id", contact_id,
    )  # fmt: skip
    calls = await conn.fetch(
        "SELECT a.created_at AS at, c.name AS campaign, a.phone, a.outcome, a.disposition"
        " FROM attempts a JOIN leads l ON l.id = a.lead_id JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE l.contact_id = $1 ORDER BY a.created_at", contact_id,
    )  # fmt: skip
    messages = await conn.fetch(
        "SELECT mm.planned_at AS at, m.name AS mailing, mm.channel, mm.address, mm.state,"
        " mm.reason FROM mailing_messages mm JOIN mailings m ON m.id = mm.mailing_id"
        " WHERE mm.contact_id = $1 ORDER BY mm.id", contact_id,
    )  # fmt: skip
    return {"consent": list(consent), "calls": list(calls), "messages": list(messages),
            "sms": await sms_history(conn, contact_id)}  # fmt: skip
