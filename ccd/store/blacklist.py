"""The global blacklist: numbers never dialed, whatever the campaign.

Adding a number also marks that number's dialable leads 'blacklisted'; removing it makes
them dialable again (status 'retry' when they were tried before, else 'new'). The dialer
checks the table again at dial time, so a number added mid-campaign is never called.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from ccd.domain.dispositions import DIALABLE_STATUSES, BlacklistReason
from ccd.domain.phones import InvalidNumber, normalize
from ccd.log import get_logger
from ccd.store.leads_import import (
    LeadImportError,
    Progress,
    RejectsFile,
    chunks,
    default_rejects_path,
    resolve_columns,
)
from ccd.store.tabular import TableError, open_table

log = get_logger(__name__)

_DIALABLE = [s.value for s in DIALABLE_STATUSES]


@dataclass(frozen=True, slots=True)
class BlacklistImport:
    rows: int
    added: int
    already: int  # on the list before, or twice in the file
    rejected: int
    leads_marked: int
    rejects_path: Path | None


# Leads are indexed by (campaign_id, phone), not by phone alone: a second index would cost
# every lead import ~2 s per million rows. Naming the campaigns lets that index find a
# number's leads in every campaign (one probe per campaign).
_LEADS_OF_NUMBERS = "campaign_id IN (SELECT id FROM campaigns) AND phone = ANY($1::text[])"


async def _mark_leads(conn: asyncpg.Connection, phones: list[str]) -> int:
    status = await conn.execute(
        "UPDATE leads SET status = 'blacklisted'"
        f" WHERE {_LEADS_OF_NUMBERS} AND status = ANY($2::text[])",
        phones, _DIALABLE,
    )  # fmt: skip
    return int(status.split()[-1])


async def add_numbers(
    conn: asyncpg.Connection,
    phones: Iterable[str],
    reason: BlacklistReason,
    *,
    source: str = "manual",
    note: str | None = None,
) -> tuple[int, int]:
    """Add E.164 numbers; returns (numbers added, leads marked blacklisted)."""
    numbers = sorted(set(phones))
    async with conn.transaction():
        added = await conn.fetch(
            "INSERT INTO blacklist (phone, reason, source, note)"
            " SELECT unnest($1::text[]), $2, $3, $4 ON CONFLICT (phone) DO NOTHING RETURNING phone",
            numbers, reason.value, source, note,
        )  # fmt: skip
        marked = await _mark_leads(conn, numbers)
    log.info("blacklist.added", added=len(added), leads_marked=marked, reason=reason.value)
    return len(added), marked


async def remove_numbers(conn: asyncpg.Connection, phones: Iterable[str]) -> tuple[int, int]:
    """Remove numbers; returns (numbers removed, leads made dialable again)."""
    numbers = sorted(set(phones))
    async with conn.transaction():
        removed = await conn.fetch(
            "DELETE FROM blacklist WHERE phone = ANY($1::text[]) RETURNING phone", numbers
        )
        gone = [r["phone"] for r in removed]
        restored = await conn.execute(
            "UPDATE leads SET status = CASE WHEN attempts > 0 THEN 'retry' ELSE 'new' END,"
            " next_attempt_at = now()"
            f" WHERE {_LEADS_OF_NUMBERS} AND status = 'blacklisted'",
            gone,
        )
    log.info("blacklist.removed", removed=len(gone))
    return len(gone), int(restored.split()[-1])


async def list_numbers(
    conn: asyncpg.Connection, *, limit: int = 100, reason: BlacklistReason | None = None
) -> tuple[int, list[asyncpg.Record]]:
    """(total matching, the newest `limit` rows)."""
    where = "WHERE reason = $1" if reason else "WHERE $1::text IS NULL"
    arg = reason.value if reason else None
    total: int = await conn.fetchval(f"SELECT count(*) FROM blacklist {where}", arg)
    rows = await conn.fetch(
        f"SELECT phone, reason, source, note, created_at FROM blacklist {where}"
        " ORDER BY created_at DESC, phone LIMIT $2",
        arg, limit,
    )  # fmt: skip
    return total, rows


async def import_file(
    conn: asyncpg.Connection,
    path: Path,
    reason: BlacklistReason,
    *,
    column_map: dict[str, str] | None = None,
    region: str | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    encoding: str | None = None,
) -> BlacklistImport:
    """Add every number of a CSV/XLSX file (its phone column) in one transaction.

    `encoding`: of a CSV file; None = guess it."""
    source = f"import:{path.name}"
    try:
        with open_table(path, encoding) as table:
            phone_col = resolve_columns(table.header, column_map).phone
            rejects = RejectsFile(
                rejects_path or default_rejects_path(path), table.header, table.delimiter
            )
            ok = False
            try:
                async with conn.transaction():
                    await conn.execute(
                        "CREATE TEMP TABLE ccd_blacklist_stage (phone text) ON COMMIT DROP"
                    )
                    staged = 0
                    for chunk in chunks(table.rows):
                        good: list[tuple[str]] = []
                        bad = []
                        for line, cells in chunk:
                            raw = cells[phone_col].strip() if phone_col < len(cells) else ""
                            try:
                                good.append((normalize(raw, region).e164,))
                            except InvalidNumber as exc:
                                bad.append((line, f"phone: {exc}", cells))
                        rejects.write(bad)
                        await conn.copy_records_to_table("ccd_blacklist_stage", records=good)
                        staged += len(good)
                        if progress is not None:
                            progress(table.position(), table.total_size)
                    added: int = await conn.fetchval(
                        """
                        WITH ins AS (
                            INSERT INTO blacklist (phone, reason, source)
                            SELECT DISTINCT phone, $1, $2 FROM ccd_blacklist_stage
                            ON CONFLICT (phone) DO NOTHING RETURNING 1
                        ) SELECT count(*) FROM ins
                        """,
                        reason.value, source,
                    )  # fmt: skip
                    marked = int(
                        (
                            await conn.execute(
                                "UPDATE leads l SET status = 'blacklisted'"
                                " FROM ccd_blacklist_stage s"
                                " WHERE l.phone = s.phone AND l.status = ANY($1::text[])",
                                _DIALABLE,
                            )
                        ).split()[-1]
                    )
                ok = True
            finally:
                saved = rejects.finish(ok)
    except TableError as exc:
        raise LeadImportError(str(exc)) from None
    log.info("blacklist.imported", file=str(path), added=added, rejected=rejects.count)
    return BlacklistImport(
        rows=staged + rejects.count,
        added=added,
        already=staged - added,
        rejected=rejects.count,
        leads_marked=marked,
        rejects_path=saved,
    )
