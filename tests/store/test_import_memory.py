"""A 50 MB lead file is imported in bounded memory: the import streams, it does not slurp.

This checks a correctness property (constant memory), not speed: the peak resident set of
this process during the import may grow by at most MAX_GROWTH over its size before.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import asyncpg
import pytest

from ccd.store.leads_import import import_leads

FILE_BYTES = 50 * 1024 * 1024
MAX_GROWTH = 60 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRss:
    """Samples this process's resident set in a thread (ru_maxrss cannot be reset)."""

    def __init__(self) -> None:
        self.peak = self.start = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def write_big_csv(path: Path, size: int) -> int:
    """Realistic rows (mixed number formats, a few bad, a few repeated) until `size` bytes."""
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Телефон;ФИО;Город\n")
        written = 0
        block: list[str] = []
        while written < size:
            i = rows
            if i % 50 == 7:
                phone = "n/a"
            elif i % 3 == 0:
                phone = f"8 916 {i % 1000:03d}-{(i // 1000) % 100:02d}-{(i // 100000) % 100:02d}"
            else:
                phone = f"+7916{i % 10_000_000:07d}"
            block.append(f"{phone};Клиент {i};Москва\n")
            rows += 1
            if len(block) == 10_000:
                text = "".join(block)
                f.write(text)
                written += len(text.encode())
                block.clear()
        f.write("".join(block))
    return rows


@pytest.mark.slow
async def test_fifty_megabytes_in_bounded_memory(pool: asyncpg.Pool, tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    rows = write_big_csv(src, FILE_BYTES)
    assert src.stat().st_size >= FILE_BYTES
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode, time_zone) VALUES ('big', 'POWER', 'Europe/Moscow')"
            " RETURNING id"
        )
        started = time.monotonic()
        with PeakRss() as mem:
            result = await import_leads(conn, cid, src, region="RU")
        elapsed = time.monotonic() - started
        stored = await conn.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1", cid)
    growth = mem.peak - mem.start
    print(f"\n{rows} rows, {src.stat().st_size / 2**20:.0f} MB in {elapsed:.1f} s; "
          f"peak RSS growth {growth / 2**20:.1f} MB")  # fmt: skip
    assert result.rows == rows
    assert result.rejected == rows // 50 + (1 if rows % 50 > 7 else 0)
    assert stored == result.loaded > rows // 2
    assert growth < MAX_GROWTH, f"peak RSS grew {growth / 2**20:.0f} MB on a 50 MB file"
