"""Load a lead file (CSV or XLSX) into a campaign: atomic, streaming, COPY-fast.

Rows are read in chunks and normalised (in worker processes for big files, since phone
parsing is the CPU cost); valid rows are COPYed into a temporary staging table, and every
FLUSH_ROWS moved into `leads` with one INSERT ... SELECT ... ON CONFLICT DO NOTHING in file
order, so the first occurrence of a number wins and duplicates (inside the file or already
in the campaign) are dropped by the unique constraint. Numbers on the global blacklist are
loaded with status 'blacklisted' so they are never dialed. Each lead is linked to the contact
with its number when there is one (`ccd contacts import` links the others later). Everything
happens in one transaction. Rejected rows go to a CSV with their line number and the reason
(private, its cells made inert for Excel, and no bigger than REJECTS_LIMIT). Parsing workers
die with the importing process, even when it is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import select
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

import asyncpg

from ccd.domain.calling_hours import lead_time_zone, zone
from ccd.domain.phones import InvalidNumber, normalize
from ccd.log import get_logger
from ccd.store.outfiles import (
    csv_cell,
    open_private,
    part_path,
    process_alive,
    remove_stale_parts,
)
from ccd.store.tabular import Table, TableError, open_table

log = get_logger(__name__)

TARGETS = ("phone", "name", "priority", "timezone")
# Header names recognised without a --map, compared case-insensitively with spaces,
# dashes and underscores removed. Russian exports use Телефон / ФИО / Имя.
HEADER_GUESSES: dict[str, tuple[str, ...]] = {
    "phone": (
        "phone", "phonenumber", "phoneno", "number", "tel", "telephone", "mobile", "msisdn",
        "телефон", "номертелефона", "номер", "тел", "мобильный", "мобильныйтелефон",
    ),
    "name": ("name", "fullname", "fio", "contact", "client", "фио", "имя", "клиент", "контакт"),
    "priority": ("priority", "prio", "приоритет"),
    "timezone": ("timezone", "tz", "zone", "часовойпояс", "таймзона"),
}  # fmt: skip
CHUNK_ROWS = 10_000
# Staged rows are moved into leads every FLUSH_ROWS, so the server inserts while the
# workers parse the next rows; earlier rows are inserted first, so the first occurrence of a
# number still wins. The INSERT is most of the server's work and the server is the
# bottleneck, so it runs after every chunk rather than waiting idle for a second one.
FLUSH_ROWS = CHUNK_ROWS
WORKER_NICE = 10  # parsing workers' niceness: the server and a running dialer come first
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this, worker start-up costs more than it saves
# A rejects file stops growing here (bytes): a file of junk rows, or an XLSX with a far-out
# cell that pads every row, must not fill the disk.
REJECTS_LIMIT = 64 * 1024 * 1024
_STAGE = "ccd_import_stage"
_STAGE_COLUMNS = ("line", "phone", "name", "fields", "priority", "time_zone")
# Text-format COPY: these characters in a value are written as backslash escapes.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_SPECIAL = re.compile(r"[\\\n\r\t]")
_json_string = json.encoder.encode_basestring  # as json.dumps(..., ensure_ascii=False) does

Rejected = tuple[int, str, list[str]]
Progress = Callable[[int, int], None]


class LeadImportError(ValueError):
    """The file cannot be imported at all; nothing was written. The message says why."""


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each target field is in a row, and the other columns (kept in `fields`)."""

    phone: int
    name: int | None = None
    priority: int | None = None
    timezone: int | None = None
    extra: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RowRules:
    columns: Columns
    region: str | None
    campaign_zone: str
    default_priority: int = 0


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int  # data rows read
    loaded: int  # new leads, blacklisted ones included
    duplicates: int
    blacklisted: int
    rejected: int
    encoding: str | None
    rejects_path: Path | None  # None when nothing was rejected
    encoding_confidence: float | None = None  # of a guessed encoding (None: given, or XLSX)
    rejects_unwritten: int = 0  # rejected rows left out of the rejects file (REJECTS_LIMIT)


def parse_column_map(text: str) -> dict[str, str]:
    """'phone=Телефон,name=ФИО' -> {'phone': 'Телефон', 'name': 'ФИО'}."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, column = part.partition("=")
        key = key.strip().lower()
        if not sep or not column.strip():
            raise ValueError(f"--map: expected FIELD=COLUMN, got {part!r}")
        if key not in TARGETS:
            raise ValueError(f"--map: unknown field {key!r} (known: {', '.join(TARGETS)})")
        mapping[key] = column.strip()
    return mapping


def _folded(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch not in " _-.№#")


def resolve_columns(header: list[str], mapping: dict[str, str] | None = None) -> Columns:
    mapping = mapping or {}
    found: dict[str, int] = {}
    folded = [_folded(h) for h in header]
    for target in TARGETS:
        if target in mapping:
            wanted = mapping[target]
            matches = [i for i, h in enumerate(header) if h == wanted]
            matches = matches or [i for i, h in enumerate(folded) if h == _folded(wanted)]
            if not matches:
                raise LeadImportError(
                    f"--map {target}={wanted}: no such column; columns found: {', '.join(header)}"
                )
            found[target] = matches[0]
            continue
        for i, h in enumerate(folded):
            if h in HEADER_GUESSES[target] and i not in found.values():
                found[target] = i
                break
    if "phone" not in found:
        raise LeadImportError(
            f"no phone column (give --map phone=COLUMN); columns found: {', '.join(header)}"
        )
    used = set(found.values())
    extra = tuple((i, h) for i, h in enumerate(header) if i not in used)
    return Columns(
        phone=found["phone"],
        name=found.get("name"),
        priority=found.get("priority"),
        timezone=found.get("timezone"),
        extra=extra,
    )


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """One chunk normalised: the good rows ready for COPY, (line, reason, cells) for the rest."""

    copy_data: bytes  # text-format COPY rows of the staging table's _STAGE_COLUMNS
    staged: int
    rejected: list[Rejected]


def _json_object(fields: dict[str, str], keys: dict[str, str]) -> str:
    """json.dumps(fields, ensure_ascii=False), with the keys' JSON cached in `keys`: dumps
    costs three times as much, most of it setting up its encoder on every call."""
    parts = []
    for name, value in fields.items():
        key = keys.get(name)
        if key is None:
            key = keys[name] = f"{_json_string(name)}: "
        parts.append(key + _json_string(value))
    return "{" + ", ".join(parts) + "}"


def _copy_text(value: str) -> str:
    """`value` as a field of text-format COPY (translate is slow: only when needed)."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def parse_rows(rows: list[tuple[int, list[str]]], rules: RowRules) -> ParsedChunk:
    """Normalise one chunk. Pure and picklable, so big files run it in worker processes;
    the good rows come back as one COPY payload, which costs the importing process next to
    nothing to receive and send on (per-row tuples cost it more than the COPY itself)."""
    cols = rules.columns
    staged: list[str] = []
    rejected: list[Rejected] = []
    targets = (cols.phone, cols.name, cols.priority, cols.timezone)
    # Every header column is a target or an extra, so this is the header's width.
    width = 1 + max([i for i in targets if i is not None] + [i for i, _ in cols.extra])
    phone_i, name_i, priority_i, zone_i = targets
    json_keys: dict[str, str] = {}
    for line, cells in rows:
        row = cells if len(cells) >= width else cells + [""] * (width - len(cells))
        raw_phone = row[phone_i].strip()
        if not raw_phone:
            rejected.append((line, "phone: empty", cells))
            continue
        try:
            phone = normalize(raw_phone, rules.region)
        except InvalidNumber as exc:
            rejected.append((line, f"phone: {exc}", cells))
            continue
        priority = rules.default_priority
        raw_priority = row[priority_i].strip() if priority_i is not None else ""
        if raw_priority:
            try:
                priority = int(raw_priority)
            except ValueError:
                rejected.append((line, f"priority: not a whole number: {raw_priority!r}", cells))
                continue
            if not -32768 <= priority <= 32767:
                rejected.append((line, f"priority: out of range: {priority}", cells))
                continue
        tz: str | None = row[zone_i].strip() if zone_i is not None else ""
        if tz:
            if zone(tz) is None:
                rejected.append((line, f"timezone: unknown IANA zone {tz!r}", cells))
                continue
        else:
            tz = lead_time_zone(phone.time_zones, rules.campaign_zone)
        fields = {name: value for i, name in cols.extra if (value := row[i].strip())}
        for i in range(width, len(cells)):  # cells beyond the header
            if value := cells[i].strip():
                fields[f"column_{i + 1}"] = value
        name = _copy_text(row[name_i].strip()) if name_i is not None else ""
        json_text = _copy_text(_json_object(fields, json_keys)) if fields else "{}"
        zone_text = _copy_text(tz) if tz else "\\N"
        staged.append(f"{line}\t{phone.e164}\t{name}\t{json_text}\t{priority}\t{zone_text}\n")
    return ParsedChunk("".join(staged).encode(), len(staged), rejected)


def chunks(rows: Iterator[tuple[int, list[str]]]) -> Iterator[list[tuple[int, list[str]]]]:
    while chunk := list(islice(rows, CHUNK_ROWS)):
        yield chunk


# A chunk goes to a worker as its line numbers and one UTF-8 text, cells joined by the
# ASCII unit separator and rows by the record separator: a worker unpickles that in about
# two thirds of the time that a list of lists of strings takes.
_ROW_SEP, _CELL_SEP = "\x1e", "\x1f"
Packed = tuple[list[int], bytes] | list[tuple[int, list[str]]]


def pack(chunk: list[tuple[int, list[str]]]) -> Packed:
    """The chunk in its compact form, or as it is when a cell holds one of the separators."""
    text = _ROW_SEP.join([_CELL_SEP.join(cells) for _, cells in chunk])
    if text.count(_ROW_SEP) != len(chunk) - 1 or text.count(_CELL_SEP) != sum(
        len(cells) - 1 for _, cells in chunk
    ):
        return chunk
    return [line for line, _ in chunk], text.encode()


def parse_packed(packed: Packed, rules: RowRules) -> ParsedChunk:
    """parse_rows on a chunk made by pack()."""
    if isinstance(packed, list):
        return parse_rows(packed, rules)
    lines, data = packed
    rows = data.decode().split(_ROW_SEP)
    return parse_rows(
        [(n, row.split(_CELL_SEP)) for n, row in zip(lines, rows, strict=True)], rules
    )


async def _parsed(table: Table, rules: RowRules, workers: int) -> AsyncIterator[ParsedChunk]:
    """Parsed chunks in file order; with workers, up to two chunks per worker in flight."""
    if workers <= 1:
        for chunk in chunks(table.rows):
            yield parse_rows(chunk, rules)
        return
    loop = asyncio.get_running_loop()
    # forkserver: workers must not inherit this process's event loop and sockets. Niced, so
    # that the database server (the bottleneck) and a running dialer come first; the chunks
    # in flight keep the server fed.
    pool = ProcessPoolExecutor(
        workers,
        mp_context=get_context("forkserver"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    # The file is read in a thread: read here, it would hold up the event loop, and with it
    # the start of the flush the caller has just created, so the server would sit idle.
    packed = (pack(chunk) for chunk in chunks(table.rows))
    try:
        pending: deque[asyncio.Future[ParsedChunk]] = deque()
        while (work := await asyncio.to_thread(next, packed, None)) is not None:
            pending.append(loop.run_in_executor(pool, parse_packed, work, rules))
            if len(pending) >= 2 * workers:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(importer: int) -> None:
    """A parsing worker: niced, and gone as soon as the importing process is, so that a
    `kill -9` of the import leaves no worker behind.

    A parent-death signal would not do: a worker's parent is the forkserver, which lives on
    as long as a worker holds its pipe, and a worker blocks forever on a queue whose writing
    end it holds itself. So a thread watches the importer."""
    os.nice(WORKER_NICE)
    threading.Thread(
        target=_exit_with, args=(importer,), name="watch-importer", daemon=True
    ).start()


def _exit_with(pid: int) -> None:
    """Wait until process `pid` has ended (a zombie has), then end this process."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfds (not Linux, or Linux before 5.3): poll
        while process_alive(pid):
            time.sleep(1)
        os._exit(1)
    select.select([fd], [], [])  # readable once the process has ended
    os._exit(1)


class _Counting:
    """A UTF-8 text stream that counts the bytes written through it."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode())
        return self.stream.write(text)


class RejectsFile:
    """Rejected rows, written beside the final path and moved there only on success.

    Cells are written as csv_cell makes them (inert in Excel), without the empty cells that
    trail a row; past REJECTS_LIMIT bytes rows are only counted, and a last line says how
    many."""

    def __init__(self, path: Path, header: list[str], delimiter: str) -> None:
        self.path = path
        self.count = 0
        self.unwritten = 0
        remove_stale_parts(path)
        self._tmp = part_path(path)
        self._header = header
        self._delimiter = delimiter
        self._file: IO[str] | None = None
        self._out: _Counting | None = None
        self._writer: Any = None  # csv's writer type is private

    def write(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        if self._out is None:
            # utf-8-sig so that Excel opens Cyrillic text right.
            f = open_private(self._tmp, "w", encoding="utf-8-sig", newline="")
            self._file = f
            self._out = _Counting(f)
            self._writer = csv.writer(self._out, delimiter=self._delimiter)
            self._writer.writerow(["line", "reason", *map(csv_cell, self._header)])
        for line, reason, cells in rejected:
            if self._out.bytes >= REJECTS_LIMIT:
                self.unwritten += 1
                continue
            end = len(cells)
            while end and not cells[end - 1]:
                end -= 1
            self._writer.writerow([line, csv_cell(reason), *map(csv_cell, cells[:end])])
        self.count += len(rejected)

    def finish(self, ok: bool) -> Path | None:
        if self._file is not None:
            if self.unwritten:
                self._writer.writerow(
                    ["", f"{self.unwritten} more rejected rows not written: this file stops"
                         f" at {REJECTS_LIMIT // 2**20} MiB"]
                )  # fmt: skip
            self._file.close()
        if not self.count:
            return None
        if ok:
            self._tmp.replace(self.path)
            return self.path
        self._tmp.unlink(missing_ok=True)
        return None


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-rejects.csv")


_INSERT = f"""
WITH ins AS (
    INSERT INTO leads (campaign_id, phone, name, fields, priority, time_zone, status, source_line,
                       contact_id)
    SELECT $1, s.phone, s.name, s.fields::jsonb, s.priority, s.time_zone,
           CASE WHEN b.phone IS NULL THEN 'new' ELSE 'blacklisted' END, s.line, ct.id
    FROM {_STAGE} s LEFT JOIN blacklist b ON b.phone = s.phone
    LEFT JOIN contacts ct ON ct.phone = s.phone
    ORDER BY s.line
    ON CONFLICT (campaign_id, phone) DO NOTHING
    RETURNING status
)
SELECT count(*) AS loaded, count(*) FILTER (WHERE status = 'blacklisted') AS blacklisted FROM ins
"""


async def _flush(conn: asyncpg.Connection, campaign_id: int) -> tuple[int, int]:
    """Move the staged rows into leads; returns (loaded, of which blacklisted)."""
    row = await conn.fetchrow(_INSERT, campaign_id)
    assert row is not None  # an aggregate without GROUP BY: always one row
    await conn.execute(f"TRUNCATE {_STAGE}")
    return row["loaded"], row["blacklisted"]


async def import_leads(
    conn: asyncpg.Connection,
    campaign_id: int,
    path: Path,
    *,
    column_map: dict[str, str] | None = None,
    region: str | None = None,
    rejects_path: Path | None = None,
    default_priority: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Import `path` into the campaign in one transaction; raise LeadImportError if it cannot.

    `workers`: parser processes; None = one per core for files over a few MB, else none.
    `encoding`: of a CSV file; None = guess it.
    """
    try:
        with open_table(path, encoding) as table:
            columns = resolve_columns(table.header, column_map)
            if workers is None:
                big = table.kind == "csv" and table.total_size >= PARALLEL_MIN_BYTES
                workers = min(os.cpu_count() or 1, 4) if big else 1
            rejects = RejectsFile(
                rejects_path or default_rejects_path(path), table.header, table.delimiter
            )
            ok = False
            try:
                result = await _load(conn, campaign_id, table, columns, region,
                                      default_priority, rejects, progress, workers)  # fmt: skip
                ok = True
            finally:
                saved = rejects.finish(ok)
    except TableError as exc:
        raise LeadImportError(str(exc)) from None
    result = replace(result, rejects_path=saved, rejects_unwritten=rejects.unwritten)
    log.info(
        "leads.imported", campaign_id=campaign_id, file=str(path), rows=result.rows,
        loaded=result.loaded, duplicates=result.duplicates, blacklisted=result.blacklisted,
        rejected=result.rejected, rejects_unwritten=result.rejects_unwritten,
        encoding=result.encoding, encoding_confidence=result.encoding_confidence,
    )  # fmt: skip
    return result


async def _load(
    conn: asyncpg.Connection,
    campaign_id: int,
    table: Table,
    columns: Columns,
    region: str | None,
    default_priority: int,
    rejects: RejectsFile,
    progress: Progress | None,
    workers: int,
) -> ImportResult:
    async with conn.transaction():
        # KEY SHARE keeps the campaign from being deleted, yet lets `campaign pause` through.
        campaign_zone = await conn.fetchval(
            "SELECT time_zone FROM campaigns WHERE id = $1 FOR KEY SHARE", campaign_id
        )
        if campaign_zone is None:
            raise LeadImportError(f"campaign {campaign_id} does not exist")
        await conn.execute(
            f"CREATE TEMP TABLE {_STAGE} (line integer, phone text, name text, fields text,"
            " priority smallint, time_zone text) ON COMMIT DROP"
        )
        rules = RowRules(columns, region, campaign_zone, default_priority)
        staged = pending = loaded = blacklisted = 0
        # One flush at a time runs while the next chunks are read and parsed; the
        # connection is free again (awaited) before the next COPY.
        flushing: asyncio.Task[tuple[int, int]] | None = None
        try:
            async for parsed in _parsed(table, rules, workers):
                rejects.write(parsed.rejected)
                if flushing is not None:
                    n, b = await flushing
                    loaded, blacklisted, flushing = loaded + n, blacklisted + b, None
                if parsed.staged:
                    # A memoryview: asyncpg would take plain bytes for a file name.
                    data = memoryview(parsed.copy_data)
                    await conn.copy_to_table(
                        _STAGE,
                        # asyncpg takes any buffer; its stubs list only paths, files, iterables.
                        source=data,  # type: ignore[arg-type]
                        columns=_STAGE_COLUMNS,
                        format="text",
                    )
                    staged += parsed.staged
                    pending += parsed.staged
                if pending >= FLUSH_ROWS:
                    flushing, pending = asyncio.create_task(_flush(conn, campaign_id)), 0
                if progress is not None:
                    progress(table.position(), table.total_size)
            if flushing is not None:
                n, b = await flushing
                loaded, blacklisted, flushing = loaded + n, blacklisted + b, None
            n, b = await _flush(conn, campaign_id)
            loaded, blacklisted = loaded + n, blacklisted + b
        finally:
            if flushing is not None:  # failed mid-way: let the query end before the rollback
                flushing.cancel()
                await asyncio.gather(flushing, return_exceptions=True)
    return ImportResult(
        rows=staged + rejects.count,
        loaded=loaded,
        duplicates=staged - loaded,
        blacklisted=blacklisted,
        rejected=rejects.count,
        encoding=table.encoding,
        rejects_path=None,
        encoding_confidence=table.encoding_confidence,
    )
