"""Rows out of the database as CSV or XLSX files, in constant memory.

Two pieces: `TableSink`s that write rows to a file (CSV, or XLSX through openpyxl's write-only
mode, with typed cells, a bold frozen header and column widths), and the streaming exports of
attempts and leads (CSV straight from `COPY ... TO STDOUT`, XLSX from a server-side cursor).
Files are written as ccd.store.outfiles says: 0600, through a part file renamed only when
every row is in (so a failed export never leaves a file that looks complete), and with no
cell that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ccd.store.outfiles import (
    csv_cell,
    is_formula_like,
    open_private,
    part_path,
    remove_stale_parts,
    sql_csv_cell,
)
from ccd.store.reports import campaign_id, mailing_id

Format = Literal["csv", "xlsx"]

# Ratio columns of the report views hold fractions; Excel shows them as percentages.
_PERCENT = re.compile(r"(rate|rate_30d|occupancy|service_level|share|penetration)$")


def is_percent_column(name: str) -> bool:
    return _PERCENT.search(name) is not None


_CURSOR_PREFETCH = 1000
# Characters Excel does not allow in a sheet name; it also takes at most 31 characters.
_SHEET_UNSAFE = re.compile(r"[\\/*?:\[\]]")
# Column types whose values are user text, neutralised in server-made CSV.
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name"})


class ExportError(Exception):
    """An export that cannot run as asked; the message says what to change."""


class TableSink(Protocol):
    def write(self, row: Sequence[Any]) -> None: ...


def _plain(value: Any, tz: ZoneInfo) -> Any:
    """A value CSV and Excel can hold: naive local datetimes, JSON text, no timedeltas, and
    text for any other type (UUIDs, addresses)."""
    if isinstance(value, datetime):
        return value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, str | int | float | Decimal | date | time):
        return value
    return str(value)


class CsvSink:
    def __init__(self, stream: IO[str], columns: Sequence[str], tz: ZoneInfo) -> None:
        self._writer = csv.writer(stream)
        self._tz = tz
        self._writer.writerow(columns)

    def write(self, row: Sequence[Any]) -> None:
        out = []
        for v in row:
            v = _plain(v, self._tz)
            if isinstance(v, datetime):
                v = v.isoformat(sep=" ")
            elif isinstance(v, str):
                v = csv_cell(v)
            out.append("" if v is None else v)
        self._writer.writerow(out)


class XlsxSink:
    """One sheet in openpyxl's write-only mode: rows go to disk as they come.

    Column widths must be set before the first row is written, so the first data row is
    held back until the second arrives (or the sink closes) and sizes the columns.
    """

    def __init__(self, columns: Sequence[str], tz: ZoneInfo, sheet: str) -> None:
        self._wb = Workbook(write_only=True)
        self._ws = self._wb.create_sheet(sheet_title(sheet))
        self._ws.freeze_panes = "A2"
        self._columns = list(columns)
        self._tz = tz
        self._first: list[Any] | None = None
        self._started = False

    def write(self, row: Sequence[Any]) -> None:
        values = [_plain(v, self._tz) for v in row]
        if not self._started:
            if self._first is None:
                self._first = values
                return
            self._start(self._first)
        self._append(values)

    def save(self, path: Path) -> None:
        if not self._started:
            self._start(self._first)
        with open_private(path, "wb") as f:
            self._wb.save(f)

    def _start(self, sample: list[Any] | None) -> None:
        bold = Font(bold=True)
        for i, name in enumerate(self._columns):
            value = sample[i] if sample is not None else None
            self._ws.column_dimensions[get_column_letter(i + 1)].width = _width(name, value)
        header = []
        for name in self._columns:
            cell = WriteOnlyCell(self._ws, value=name)
            cell.font = bold
            header.append(cell)
        self._ws.append(header)
        self._started = True
        if sample is not None:
            self._append(sample)

    def _append(self, values: list[Any]) -> None:
        cells = []
        for name, value in zip(self._columns, values, strict=True):
            if isinstance(value, str):
                cells.append(self._text_cell(value))
                continue
            cell = WriteOnlyCell(self._ws, value=value)
            fmt = _number_format(name, value)
            if fmt:
                cell.number_format = fmt
            cells.append(cell)
        self._ws.append(cells)

    def _text_cell(self, value: str) -> Cell:
        """A text cell, whatever the text: control characters (which XLSX cannot hold) become
        U+FFFD, and text that looks like a formula stays text, even when edited in Excel."""
        cell = WriteOnlyCell(self._ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        if is_formula_like(value):
            cell.data_type = "s"  # openpyxl makes "=..." a formula
            cell.quotePrefix = True
        return cell


def sheet_title(text: str) -> str:
    """`text` as an Excel sheet name: no \\ / * ? : [ ], no quote at either end, 31 characters."""
    title = _SHEET_UNSAFE.sub("_", text)[:31].strip("'")
    return title or "sheet"


def _number_format(column: str, value: Any) -> str | None:
    if isinstance(value, datetime):
        return "yyyy-mm-dd hh:mm:ss"
    if isinstance(value, date):
        return "yyyy-mm-dd"
    if isinstance(value, Decimal | float) and is_percent_column(column):
        return "0.00%"
    return None


def _width(column: str, value: Any) -> float:
    if isinstance(value, datetime):
        content = 19
    elif isinstance(value, date):
        content = 10
    elif isinstance(value, int | float | Decimal):
        content = 10
    else:
        content = min(len(str(value)) if value is not None else 10, 50)
    return max(len(column), content) + 2


@contextmanager
def open_sink(
    fmt: Format,
    columns: Sequence[str],
    out: Path | None,
    *,
    tz: ZoneInfo,
    sheet: str = "report",
) -> Iterator[TableSink]:
    """A sink for `fmt`; CSV goes to stdout when `out` is None, XLSX needs a file."""
    if fmt == "xlsx" and out is None:
        raise ExportError("--format xlsx writes a file: give --out FILE.xlsx")
    if out is None:
        yield CsvSink(sys.stdout, columns, tz)
        sys.stdout.flush()
        return
    remove_stale_parts(out)
    part = part_path(out)
    try:
        if fmt == "csv":
            with open_private(part, "w", newline="", encoding="utf-8") as f:
                yield CsvSink(f, columns, tz)
        else:
            sink = XlsxSink(columns, tz, sheet)
            yield sink
            sink.save(part)
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)


async def use_time_zone(conn: asyncpg.Connection, name: str | None) -> ZoneInfo:
    """Set the session's TimeZone to `name` (None keeps the server's) and return it: report
    days and every time written out are in this zone."""
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ExportError(f"--tz {name!r}: not a zone name such as Europe/Moscow") from None
        await conn.execute("SELECT set_config('TimeZone', $1, false)", name)
    current = await conn.fetchval("SELECT current_setting('TimeZone')")
    try:
        return ZoneInfo(current)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportError(
            f"the database's TimeZone {current!r} is not a zone name: pass --tz"
        ) from None


# --- streaming exports of attempts and leads ---

ATTEMPT_COLUMNS = """
    a.id, c.name AS campaign, a.lead_id, a.phone, l.name AS lead_name, a.node,
    t.name AS trunk, g.login AS agent, a.state, a.created_at, a.originated_at, a.answered_at,
    a.bridged_at, a.ended_at, a.wrapup_ended_at,
    round(extract(epoch FROM a.answered_at - a.originated_at), 1) AS ring_s,
    round(extract(epoch FROM a.ended_at - a.bridged_at), 1) AS talk_s,
    round(extract(epoch FROM a.wrapup_ended_at - a.ended_at), 1) AS wrap_s,
    a.cause, a.cause_txt, a.sip_code, a.dial_status, a.amd_status, a.amd_cause, a.tone,
    a.outcome, a.disposition, a.disposition_source, a.disposition_at, a.callback_at, a.note
"""

ATTEMPTS_QUERY = f"""
SELECT {ATTEMPT_COLUMNS}
FROM attempts a
JOIN campaigns c ON c.id = a.campaign_id
JOIN leads l ON l.id = a.lead_id
LEFT JOIN trunks t ON t.id = a.trunk_id
LEFT JOIN agents g ON g.id = a.agent_id
WHERE a.campaign_id = $1 AND a.created_at >= $2 AND a.created_at < $3
ORDER BY a.created_at, a.id
"""

LEADS_QUERY = """
SELECT l.id, c.name AS campaign, l.phone, l.name, l.fields, l.priority, l.time_zone, l.status,
       l.next_attempt_at, l.attempts, l.last_disposition, l.last_attempt_at,
       g.login AS agent, l.source_line, l.created_at,
       (b.phone IS NOT NULL) AS on_blacklist
FROM leads l
JOIN campaigns c ON c.id = l.campaign_id
LEFT JOIN agents g ON g.id = l.agent_id
LEFT JOIN blacklist b ON b.phone = l.phone
WHERE l.campaign_id = $1 AND l.created_at >= $2 AND l.created_at < $3
ORDER BY l.id
"""

MESSAGES_QUERY = """
SELECT mm.id, m.name AS mailing, s.name AS segment, mm.contact_id, c.phone, c.email,
       mm.channel, mm.address, mm.state, mm.reason, mm.subject, mm.body, mm.planned_at,
       mm.not_before, mm.sending_at, mm.sent_at, mm.delivered_at, mm.ended_at, mm.provider_id,
       mm.attempts, mm.pages, mm.parts
FROM mailing_messages mm
JOIN mailings m ON m.id = mm.mailing_id
JOIN contacts c ON c.id = mm.contact_id
LEFT JOIN mailing_variants v ON v.id = mm.variant_id
LEFT JOIN segments s ON s.id = v.segment_id
WHERE mm.mailing_id = $1 AND mm.planned_at >= $2 AND mm.planned_at < $3
ORDER BY mm.id
"""

INBOX_QUERY = """
SELECT i.id, i.received_at, i.sender, nullif(concat_ws(' ', c.first_name, c.last_name), '')
       AS contact, i.recipient, i.text, i.keyword, i.status, au.login AS assigned_to,
       i.done_at, t.first_reply_at, t.response_s,
       (SELECT r.text FROM sms_replies r WHERE r.inbound_id = i.id AND r.state <> 'failed'
        ORDER BY r.id LIMIT 1) AS first_reply,
       i.parts, i.coding, i.link
FROM sms_inbound i
JOIN sms_response_times t ON t.id = i.id
LEFT JOIN contacts c ON c.id = i.contact_id
LEFT JOIN users au ON au.id = i.assigned_user_id
WHERE ($1::text IS NULL OR i.keyword IS NOT DISTINCT FROM upper(nullif($1, '')))
  AND i.received_at >= $2 AND i.received_at < $3
ORDER BY i.received_at, i.id
"""

WHAT = {"attempts": ATTEMPTS_QUERY, "leads": LEADS_QUERY, "messages": MESSAGES_QUERY}


async def _columns(conn: asyncpg.Connection, query: str) -> list[str]:
    stmt = await conn.prepare(query)
    return [a.name for a in stmt.get_attributes()]


async def _csv_safe(conn: asyncpg.Connection, query: str) -> str:
    """`query` with csv_cell applied by the server to its text columns (the other types
    never start like a formula). A projection of the ordered subquery keeps its order."""
    stmt = await conn.prepare(query)
    select = []
    for a in stmt.get_attributes():
        column = f'q."{a.name}"'
        select.append(
            f'{sql_csv_cell(column)} AS "{a.name}"' if a.type.name in _TEXT_TYPES else column
        )
    return f"SELECT {', '.join(select)} FROM ({query}) q"


async def _records(
    conn: asyncpg.Connection, query: str, *args: Any
) -> AsyncIterator[asyncpg.Record]:
    """Rows through a server-side cursor: at most _CURSOR_PREFETCH rows in memory."""
    async with conn.transaction(readonly=True):
        async for record in conn.cursor(query, *args, prefetch=_CURSOR_PREFETCH):
            yield record


async def export_rows(
    conn: asyncpg.Connection,
    what: Literal["attempts", "leads", "messages"],
    campaign: str,
    fmt: Format,
    out: Path | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the campaign's attempts or leads, or a mailing's messages (`campaign` is then
    the mailing's name), to `out` (stdout when None); return the count.

    `since`/`until` bound created_at (until exclusive). Times are written in the connection's
    TimeZone (see use_time_zone).
    """
    cid = await (mailing_id if what == "messages" else campaign_id)(conn, campaign)
    lo = since or datetime.min.replace(tzinfo=ZoneInfo("UTC"))
    hi = until or datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return await _write(conn, WHAT[what], (cid, lo, hi), fmt, out, f"{what} {campaign}")


async def export_inbox(
    conn: asyncpg.Connection,
    fmt: Format,
    out: Path | None,
    *,
    code: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the customers' SMS received in [since, until) (of one keyword's code; "" = those
    that matched none), with their first reply and outcome, to `out`; return the count."""
    lo = since or datetime.min.replace(tzinfo=ZoneInfo("UTC"))
    hi = until or datetime.max.replace(tzinfo=ZoneInfo("UTC"))
    return await _write(conn, INBOX_QUERY, (code, lo, hi), fmt, out, "inbox")


async def _write(
    conn: asyncpg.Connection, query: str, args: tuple[Any, ...], fmt: Format, out: Path | None,
    sheet: str,
) -> int:  # fmt: skip
    tz = await use_time_zone(conn, None)
    if fmt == "csv":
        return await _copy_csv(conn, await _csv_safe(conn, query), args, out)
    columns = await _columns(conn, query)
    n = 0
    with open_sink("xlsx", columns, out, tz=tz, sheet=sheet) as sink:
        async for record in _records(conn, query, *args):
            sink.write(tuple(record))
            n += 1
    return n


async def _copy_csv(
    conn: asyncpg.Connection, query: str, args: tuple[Any, ...], out: Path | None
) -> int:
    """CSV made by the server (COPY ... TO STDOUT, with a header): no rows in Python at all."""
    if out is None:
        # asyncpg only writes to it, as to any file; its stubs want a BinaryIO.
        stdout = cast(BinaryIO, _StdoutBytes())
        status = await conn.copy_from_query(query, *args, output=stdout, format="csv", header=True)
    else:
        remove_stale_parts(out)
        part = part_path(out)
        try:
            with open_private(part, "wb") as f:
                status = await conn.copy_from_query(
                    query, *args, output=f, format="csv", header=True
                )
            part.replace(out)
        finally:
            part.unlink(missing_ok=True)
    return int(status.split()[-1])  # "COPY 123"


class _StdoutBytes(io.RawIOBase):
    """Binary stdout for COPY output (sys.stdout may be a text stream without .buffer)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        stream = getattr(sys.stdout, "buffer", None)
        if stream is not None:
            stream.write(data)
            stream.flush()
        else:
            sys.stdout.write(bytes(data).decode("utf-8"))
        return len(data)
