"""Read a CSV or XLSX table row by row, in constant memory, with clear errors.

CSV text is UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's "Unicode text"), or
cp1251 (Excel on a Russian Windows); the encoding is found by decoding the whole file once
in chunks, so a bad byte far down the file is caught before anything is imported. The
delimiter is sniffed from the header line. XLSX is read with openpyxl in read-only mode.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

XLSX_SUFFIXES = (".xlsx", ".xlsm")
_CHUNK = 1 << 20
_DELIMITERS = ",;\t|"
# Fields far longer than csv's default limit are legal in real exports (notes, addresses).
csv.field_size_limit(16 * 1024 * 1024)


class TableError(ValueError):
    """The file cannot be read as a table; the message names the file and what is wrong."""


@dataclass
class Table:
    """An open table: its header and an iterator of (line number, cells) data rows."""

    path: Path
    kind: str  # "csv" | "xlsx"
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str | None = None  # CSV only
    delimiter: str = ","
    total_size: int = 0  # bytes (CSV) or rows (XLSX), for progress
    _position: list[int] = field(default_factory=lambda: [0])

    def position(self) -> int:
        """How far reading has got, in the unit of total_size."""
        return self._position[0]


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if path.suffix.lower() in XLSX_SUFFIXES:
        with _open_xlsx(path) as table:
            yield table
    else:
        with _open_csv(path) as table:
            yield table


def detect_encoding(path: Path) -> str:
    """'utf-8-sig', 'utf-16' or 'cp1251': the first that decodes every byte of the file."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        candidates = ("utf-8-sig", "cp1251")
    errors: list[str] = []
    for encoding in candidates:
        offset = _first_bad_byte(path, encoding)
        if offset is None:
            return encoding
        errors.append(f"{encoding} fails at line {_line_at(path, offset)} (byte {offset})")
    raise TableError(
        f"{path}: cannot decode the text ({'; '.join(errors)}); save it as UTF-8 or cp1251"
    )


def _first_bad_byte(path: Path, encoding: str) -> int | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return done + exc.start
            if "\x00" in text:
                raise TableError(f"{path}: binary data (a NUL character), not a CSV text file")
            done += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return done + exc.start
    return None


def _line_at(path: Path, offset: int) -> int:
    line = 1
    with path.open("rb") as f:
        while offset > 0 and (chunk := f.read(min(_CHUNK, offset))):
            line += chunk.count(b"\n")
            offset -= len(chunk)
    return line


def _sniff_delimiter(first_line: str, sample: str) -> str:
    """The candidate that splits the header line most; csv.Sniffer when the line says nothing."""
    counts = {d: len(next(csv.reader([first_line], delimiter=d))) - 1 for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] > 0:
        return best
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","  # one column


@contextmanager
def _open_csv(path: Path) -> Iterator[Table]:
    encoding = detect_encoding(path)
    size = path.stat().st_size
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        sample = text.read(64 * 1024)
        if not sample.strip():
            raise TableError(f"{path}: the file is empty (no header line)")
        first_line = sample.splitlines()[0] if sample else ""
        delimiter = _sniff_delimiter(first_line, sample)
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        header = _clean_header(next(reader))
        position = [0]

        def rows() -> Iterator[tuple[int, list[str]]]:
            end_of_previous = reader.line_num
            for n, cells in enumerate(reader):
                start_line = end_of_previous + 1
                end_of_previous = reader.line_num
                if n % 4096 == 0:
                    position[0] = raw.tell()
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # blank line
                yield start_line, cells
            position[0] = size

        yield Table(path, "csv", header, rows(), encoding, delimiter, size, position)


@contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    if not zipfile.is_zipfile(path):
        raise TableError(f"{path}: not an XLSX workbook (not a zip archive; an old .xls or CSV?)")
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise TableError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        ws = wb.active
        if ws is None:
            raise TableError(f"{path}: the workbook has no sheet")
        it = ws.iter_rows(values_only=True)
        header_row = next(it, None)
        if header_row is None or not any(v not in (None, "") for v in header_row):
            raise TableError(f"{path}: the first sheet is empty (no header row)")
        header = _clean_header([_cell_text(v) for v in header_row])
        position = [0]
        total = ws.max_row or 0  # read-only sheets know it from their dimension, when written

        def rows() -> Iterator[tuple[int, list[str]]]:
            for line, values in enumerate(it, start=2):
                position[0] = line
                cells = [_cell_text(v) for v in values]
                if not any(cells):
                    continue
                yield line, cells
            position[0] = total

        yield Table(path, "xlsx", header, rows(), None, ",", total, position)
    finally:
        wb.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers come back as floats
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _clean_header(names: list[str]) -> list[str]:
    """Stripped, non-empty, unique column names (a blank one becomes column_N)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for i, raw in enumerate(names, start=1):
        name = raw.strip().lstrip("\ufeff") or f"column_{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out
