"""Exports stream: Python memory stays flat however many rows go out."""

from __future__ import annotations

import tracemalloc
from collections.abc import Awaitable
from pathlib import Path

import asyncpg
import openpyxl
import pytest

from ccd.store.export import export_rows


async def _fill(conn: asyncpg.Connection, cid: int, n: int) -> None:
    """Campaign c<cid> with n leads and one ended attempt per lead."""
    await conn.execute(
        "INSERT INTO campaigns (id, name, mode) OVERRIDING SYSTEM VALUE"
        " VALUES ($1::int, 'c' || $1::int, 'POWER')",
        cid,
    )
    await conn.execute(
        "INSERT INTO leads (campaign_id, phone, fields)"
        " SELECT $1::int, '+7' || $1::int || lpad(g::text, 9, '0'), jsonb_build_object('n', g)"
        " FROM generate_series(1, $2) g",
        cid, n,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, ended_at,"
        " outcome, disposition, cause)"
        " SELECT gen_random_uuid(), $1, id, phone, 'ended', now() - id * interval '1 s', now(),"
        " 'NO_ANSWER', 'NO_ANSWER', 19 FROM leads WHERE campaign_id = $1",
        cid,
    )


async def _peak(export: Awaitable[int]) -> tuple[int, int]:
    tracemalloc.start()
    try:
        n = await export
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_csv_export_of_200k_attempts_in_bounded_memory(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await _fill(conn, 1, 200_000)
        out = tmp_path / "a.csv"
        n, peak = await _peak(export_rows(conn, "attempts", "c1", "csv", out))
    assert n == 200_000
    with out.open() as f:
        assert sum(1 for _ in f) == 200_001
    assert out.stat().st_size > 20_000_000  # the rows went to disk...
    assert peak < 8_000_000, peak  # ...not through Python memory


@pytest.mark.slow  # openpyxl under tracemalloc: ~20 s
async def test_xlsx_export_memory_does_not_grow_with_rows(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await _fill(conn, 1, 2_000)
        await _fill(conn, 2, 8_000)
        _, small_peak = await _peak(export_rows(conn, "leads", "c1", "xlsx", tmp_path / "s.xlsx"))
        n, big_peak = await _peak(export_rows(conn, "leads", "c2", "xlsx", tmp_path / "b.xlsx"))
    assert n == 8_000
    ws = openpyxl.load_workbook(tmp_path / "b.xlsx", read_only=True).active
    assert sum(1 for _ in ws.iter_rows(values_only=True)) == 8_001
    # Four times the rows (both beyond one cursor batch), about the same peak.
    assert big_peak < small_peak * 1.3 + 200_000, (small_peak, big_peak)
