"""Read a CSV or XLSX table row by row, in constant memory, with clear errors.

CSV text is UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's "Unicode text"),
cp1251 (Excel on a Russian Windows) or cp1252 (Latin-1, Excel on a Western Windows), or what
the caller names; the encoding is checked by decoding the whole file once in chunks, so a bad
byte far down the file is caught before anything is imported. Between the two 8-bit code
pages the words decide (see guess_code_page), and the guess says how sure it is. The
delimiter is sniffed from the header line. CSV is parsed strictly: a quote that is never
closed, or a field longer than FIELD_LIMIT, is an error naming the line its row starts on
(not a row that silently swallows the rest of the file). XLSX is read with openpyxl in
read-only mode, without trusting the sheet's recorded size.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

XLSX_SUFFIXES = (".xlsx", ".xlsm")
_CHUNK = 1 << 20
_DELIMITERS = ",;\t|"
# Longer than any real note or address: a longer field is a broken file (a stray quote).
FIELD_LIMIT = 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)
# Words with a letter outside ASCII, read as cp1251: all-Cyrillic ones vote for cp1251, the
# others (Latin mixed with Cyrillic, as "Müller" becomes "Mьller") for cp1252.
_WORD = re.compile(r"[^\W\d_]*[^\x00-\x7f][^\W\d_]*")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]+")
_VOTES = 10_000  # enough words to decide; the rest of the file is not read for the guess


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
    encoding_confidence: float | None = None  # 0..1 for a guessed encoding, None when given

    def position(self) -> int:
        """How far reading has got, in the unit of total_size."""
        return self._position[0]


@contextmanager
def open_table(path: Path, encoding: str | None = None) -> Iterator[Table]:
    """`encoding` (CSV only) overrides the guess; the whole file must decode with it."""
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    if path.suffix.lower() in XLSX_SUFFIXES:
        with _open_xlsx(path) as table:
            yield table
    else:
        with _open_csv(path, encoding) as table:
            yield table


def detect_encoding(path: Path) -> tuple[str, float]:
    """'utf-8-sig', 'utf-16', 'cp1251' or 'cp1252', with how sure the guess is (0..1).

    A BOM or text that is valid UTF-8 is certain; for 8-bit text the words decide."""
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[tuple[str, float], ...] = (("utf-16", 1.0),)
    else:
        candidates = (("utf-8-sig", 1.0), guess_code_page(path))
    errors: list[str] = []
    for encoding, confidence in candidates:
        offset = _first_bad_byte(path, encoding)
        if offset is None:
            return encoding, confidence
        errors.append(f"{encoding} fails at line {_line_at(path, offset)} (byte {offset})")
    raise TableError(
        f"{path}: cannot decode the text ({'; '.join(errors)}); save it as UTF-8,"
        " or name its encoding with --encoding"
    )


def check_encoding(path: Path, encoding: str) -> None:
    """TableError unless `encoding` is known and decodes every byte of the file."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TableError(f"--encoding {encoding}: not an encoding Python knows") from None
    offset = _first_bad_byte(path, encoding)
    if offset is not None:
        raise TableError(
            f"{path}: not {encoding}: byte {offset} on line {_line_at(path, offset)}"
            " cannot be decoded"
        )


def guess_code_page(path: Path) -> tuple[str, float]:
    """cp1251 or cp1252 for 8-bit text, by its words with letters outside ASCII; the
    confidence is the winner's share of the votes, smoothed (no words at all: 50%)."""
    cyrillic = latin = 0
    decoder = codecs.getincrementaldecoder("cp1251")(errors="replace")
    with path.open("rb") as f:
        while cyrillic + latin < _VOTES and (chunk := f.read(_CHUNK)):
            if chunk.isascii():
                continue
            for word in _WORD.findall(decoder.decode(chunk)):
                if len(word) < 2:
                    continue  # "à" is Cyrillic "а" in cp1251
                if _CYRILLIC.fullmatch(word):
                    cyrillic += 1
                else:
                    latin += 1
    encoding, votes = ("cp1252", latin) if latin > cyrillic else ("cp1251", cyrillic)
    return encoding, (votes + 1) / (cyrillic + latin + 2)


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
def _open_csv(path: Path, encoding: str | None) -> Iterator[Table]:
    confidence: float | None = None
    if encoding is None:
        encoding, confidence = detect_encoding(path)
    else:
        check_encoding(path, encoding)
    size = path.stat().st_size
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        sample = text.read(64 * 1024)
        if not sample.strip():
            raise TableError(f"{path}: the file is empty (no header line)")
        first_line = sample.splitlines()[0] if sample else ""
        delimiter = _sniff_delimiter(first_line, sample)
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        header = _clean_header(_first_row(path, reader))
        position = [0]

        def rows() -> Iterator[tuple[int, list[str]]]:
            end_of_previous = reader.line_num
            try:
                for n, cells in enumerate(reader):
                    start_line = end_of_previous + 1
                    end_of_previous = reader.line_num
                    if n % 4096 == 0:
                        position[0] = raw.tell()
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue  # blank line
                    yield start_line, cells
            except csv.Error as exc:
                raise _csv_error(path, end_of_previous + 1, reader.line_num, exc) from None
            position[0] = size

        yield Table(path, "csv", header, rows(), encoding, delimiter, size, position, confidence)


def _first_row(path: Path, reader: Any) -> list[str]:
    try:
        return next(reader)  # type: ignore[no-any-return]
    except csv.Error as exc:
        raise _csv_error(path, 1, reader.line_num, exc) from None


def _csv_error(path: Path, line: int, at: int, exc: csv.Error) -> TableError:
    """What is wrong with the row that starts on `line` (the reader got to line `at`)."""
    what = str(exc)
    if what.startswith("field larger than field limit"):
        what = f"a field is longer than {FIELD_LIMIT:,} characters (a quote never closed?)"
    elif what == "unexpected end of data":
        what = "a quoted field is never closed: its quote runs to the end of the file"
    elif "expected after" in what:
        what = (
            f"a quoted field does not end where a field can end (at line {at}):"
            " a quote never closed, or a stray quote"
        )
    return TableError(f"{path}: line {line}: {what}")


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
        # The size the sheet records (its <dimension>) serves progress only: it may be wrong
        # (openpyxl would stop there), so rows are read to the sheet's real end.
        total = ws.max_row or 0
        ws.reset_dimensions()
        it = ws.iter_rows(values_only=True)
        header_row = next(it, None)
        if header_row is None or not any(v not in (None, "") for v in header_row):
            raise TableError(f"{path}: the first sheet is empty (no header row)")
        header = _clean_header([_cell_text(v) for v in header_row])
        position = [0]

        def rows() -> Iterator[tuple[int, list[str]]]:
            for line, values in enumerate(it, start=2):
                position[0] = min(line, total)
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
