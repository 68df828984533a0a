"""Files ccd writes (exports, reports, rejects): private, complete or absent, and inert.

They hold personal data, so they are created 0600. Each is written to `<name>.<pid>.part`
and renamed when complete; a part left by a process that died (kill -9) is removed by the
next run that writes the same file. Supervisors open them in Excel, so no text cell may
start like a formula: CSV cells get the OWASP leading quote (XLSX writes them as text cells).
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import IO, Any

from ccd.log import get_logger

log = get_logger(__name__)

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A plain number is data to Excel, not a formula: E.164 phones (+7495...) and negative
# numbers stay as they are.
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_SQL_FORMULA_START = "'=', '+', '-', '@', E'\\t', E'\\r'"
_SQL_NUMBER = "'^[+-]?[0-9]+(\\.[0-9]+)?$'"


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet would read `text` as a formula (or the start of one)."""
    return text.startswith(FORMULA_START) and _NUMBER.fullmatch(text) is None


def csv_cell(value: str) -> str:
    """`value` as a CSV cell that Excel and LibreOffice show as text instead of running it."""
    return "'" + value if is_formula_like(value) else value


def sql_csv_cell(expr: str) -> str:
    """csv_cell as SQL, for CSV that the server writes (COPY): `expr` is a text expression."""
    return (
        f"CASE WHEN left({expr}, 1) IN ({_SQL_FORMULA_START}) AND {expr} !~ {_SQL_NUMBER}"
        f" THEN '''' || {expr} ELSE {expr} END"
    )


def part_path(path: Path) -> Path:
    """Where `path` is written until it is complete; the pid tells a live writer's part from
    a dead one's."""
    return path.with_name(f"{path.name}.{os.getpid()}.part")


def remove_stale_parts(path: Path) -> None:
    """Delete the parts of `path` whose writer is gone (killed before it could clean up)."""
    prefix = path.name + "."
    for part in path.parent.glob(glob.escape(prefix) + "*.part"):
        pid = part.name[len(prefix) : -len(".part")]
        if pid.isdigit() and not process_alive(int(pid)):
            part.unlink(missing_ok=True)
            log.info("file.stale_part_removed", path=str(part), pid=int(pid))


def process_alive(pid: int) -> bool:
    """True while `pid` exists (a zombie does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """open(path, mode) for writing, the file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file that existed keeps its old mode otherwise
        return open(fd, mode, **kwargs)  # noqa: SIM115 - the caller closes it
    except BaseException:
        os.close(fd)
        raise
