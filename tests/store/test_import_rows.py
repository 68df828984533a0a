"""Row content arrives in leads exactly as it was in the file, with one worker process and
with two: text that means something to COPY (backslashes, tabs, line breaks, a literal \\N),
and cells beyond the header."""

from __future__ import annotations

import csv
from pathlib import Path

import asyncpg
import pytest

from ccd.store.leads_import import import_leads

AWKWARD = [
    "C:\\Users\\ivanov",
    "tab\there",
    "two\nlines",
    "cr\rhere",
    "\\N",
    "\\.",
    'quote " and \\" backslash-quote',
    "ends with a backslash\\",
    "Фамилия\\Имя\t«кавычки»",
]


# Workers get a chunk's cells joined by these two characters, unless a cell holds one.
SEPARATORS = ["unit\x1fand\x1erecord separators"]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("texts", [AWKWARD, AWKWARD + SEPARATORS], ids=["plain", "separators"])
async def test_awkward_text_is_stored_unchanged(
    pool: asyncpg.Pool, tmp_path: Path, workers: int, texts: list[str]
) -> None:
    src = tmp_path / "awkward.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["phone", "name", "note"])
        for i, text in enumerate(texts):
            out.writerow([f"+7916{i:07d}", text, text])
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode, time_zone) VALUES ('esc', 'POWER', 'UTC')"
            " RETURNING id"
        )
        result = await import_leads(conn, cid, src, workers=workers)
        rows = await conn.fetch(
            "SELECT name, fields->>'note' AS note FROM leads WHERE campaign_id = $1"
            " ORDER BY source_line",
            cid,
        )
    assert (result.loaded, result.rejected) == (len(texts), 0)
    assert [r["name"] for r in rows] == [t.strip() for t in texts]
    assert [r["note"] for r in rows] == [t.strip() for t in texts]


@pytest.mark.parametrize("workers", [1, 2])
async def test_cells_beyond_the_header_go_to_fields(
    pool: asyncpg.Pool, tmp_path: Path, workers: int
) -> None:
    src = tmp_path / "wide.csv"
    src.write_text("phone,name\n+74951234567,Анна\n+74951234568,Борис,лишнее,,ещё\n+74951234569\n")
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode, time_zone) VALUES ('wide', 'POWER', 'UTC')"
            " RETURNING id"
        )
        result = await import_leads(conn, cid, src, workers=workers)
        rows = await conn.fetch(
            "SELECT name, fields FROM leads WHERE campaign_id = $1 ORDER BY source_line", cid
        )
    assert (result.loaded, result.rejected) == (3, 0)
    assert [(r["name"], r["fields"]) for r in rows] == [
        ("Анна", {}),
        ("Борис", {"column_3": "лишнее", "column_5": "ещё"}),
        ("", {}),  # a short row: no name
    ]
