"""Lead import speed: 1 M rows through `ccd campaign load` against a raw COPY of the same rows.

Generates a cp1251, ';'-delimited "Excel export" with realistic Russian and international
numbers in mixed formats (some invalid, some repeated), then times in the same run:
  1. the import function in-process (import_leads),
  2. `ccd campaign load` as a subprocess,
  3. the baseline: a raw COPY of the already normalised rows straight into `leads`.
Prints the figures and the ratio import / raw COPY. Target: 1 M rows in <= 20 s.
Then the phone-normalisation micro-benchmark of bench/phones.py (µs per number, against
plain phonenumbers calls).

Database: CCD_DATABASE_URL, else a temporary database on 127.0.0.1:5432 (dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import phones
from _database import bench_database
from phones import random_phone

from ccd.store.db import connect
from ccd.store.leads_import import RowRules, chunks, import_leads, parse_rows, resolve_columns
from ccd.store.tabular import open_table

TARGET_S = 20.0
RUN = f"bench{os.getpid()}"  # campaign names that cannot clash with an earlier run
SURNAMES = ["Иванов", "Петрова", "Смирнов", "Кузнецова", "Попов", "Васильева", "Соколов"]
CITIES = ["Москва", "Санкт-Петербург", "Казань", "Новосибирск", "London", "New York"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    recent: list[str] = []
    with path.open("w", encoding="cp1251", newline="") as f:
        f.write("ФИО;Телефон;Город;Приоритет;Комментарий\r\n")
        for i in range(rows):
            if recent and rng.random() < 0.01:
                phone = rng.choice(recent)  # a repeat
            else:
                phone = random_phone(rng)
                if i % 97 == 0:
                    recent = [*recent[-50:], phone]
            name = f"{rng.choice(SURNAMES)} {chr(0x410 + rng.randrange(32))}."
            prio = str(rng.randrange(3)) if rng.random() < 0.3 else ""
            f.write(f"{name};{phone};{rng.choice(CITIES)};{prio};договор {i}\r\n")


async def _new_campaign(conn: asyncpg.Connection, name: str) -> int:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO campaigns (name, mode, time_zone) VALUES ($1, 'POWER', 'Europe/Moscow')"
        " RETURNING id",
        name,
    )


def _server_cpu(conn: asyncpg.Connection) -> float | None:
    """CPU seconds the connection's server process has used (a server on this machine)."""
    try:
        with open(f"/proc/{conn.get_server_pid()}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _parse_cpu(csv_path: Path) -> float:
    """CPU seconds for reading and normalising the whole file in one process (no database)."""
    started = time.process_time()
    with open_table(csv_path) as table:
        rules = RowRules(resolve_columns(table.header), "RU", "Europe/Moscow")
        for chunk in chunks(table.rows):
            parse_rows(chunk, rules)
    return time.process_time() - started


def _cpu_delta(before: float | None, after: float | None) -> float:
    return (after - before) if before is not None and after is not None else float("nan")


async def _raw_copy(url: str, source_campaign: int) -> tuple[int, float, float]:
    """COPY the rows the import produced, already normalised, straight into leads."""
    conn = await asyncpg.connect(url)  # asyncpg's own jsonb codec: binary COPY of JSON text
    try:
        target = await _new_campaign(conn, f"{RUN}-raw-copy")
        rows = await conn.fetch(
            "SELECT phone, name, fields::text, priority, time_zone, status, source_line"
            " FROM leads WHERE campaign_id = $1 ORDER BY id",
            source_campaign,
        )
        records = [(target, *r) for r in rows]
        del rows
        started = time.perf_counter()
        server_before = _server_cpu(conn)
        async with conn.transaction():
            await conn.copy_records_to_table(
                "leads",
                records=records,
                columns=("campaign_id", "phone", "name", "fields", "priority", "time_zone",
                         "status", "source_line"),
            )  # fmt: skip
        elapsed = time.perf_counter() - started
        return len(records), elapsed, _cpu_delta(server_before, _server_cpu(conn))
    finally:
        await conn.close()


async def bench(url: str, csv_path: Path, size: float) -> None:
    conn = await connect(url)
    try:
        cid = await _new_campaign(conn, f"{RUN}-in-process")
        await _new_campaign(conn, f"{RUN}-subprocess")
        started, cpu_started = time.perf_counter(), time.process_time()
        server_before = _server_cpu(conn)
        result = await import_leads(conn, cid, csv_path, region="RU")
        in_process = time.perf_counter() - started
        main_cpu = time.process_time() - cpu_started
        server_cpu = _cpu_delta(server_before, _server_cpu(conn))
    finally:
        await conn.close()

    env = {**os.environ, "CCD_DATABASE_URL": url, "CCD_LOG_LEVEL": "warning"}
    ccd = [sys.executable, "-m", "ccd", "campaign", "load", f"{RUN}-subprocess", str(csv_path)]
    started = time.perf_counter()
    proc = await asyncio.to_thread(
        subprocess.run, [*ccd, "--region", "RU"], env=env, capture_output=True, text=True
    )
    as_subprocess = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"ccd campaign load failed ({proc.returncode}):\n{proc.stderr}")

    copied, raw, raw_server_cpu = await _raw_copy(url, cid)
    parse_cpu = await asyncio.to_thread(_parse_cpu, csv_path)
    print(f"file: {result.rows} rows, {size:.0f} MB, read as {result.encoding}")
    print(f"  loaded {result.loaded}, duplicate {result.duplicates}, rejected {result.rejected}")
    print(
        f"import_leads in-process : {in_process:6.2f} s  ({result.rows / in_process:,.0f} rows/s)"
    )
    print(f"ccd campaign load (proc): {as_subprocess:6.2f} s  "
          f"({result.rows / as_subprocess:,.0f} rows/s)")  # fmt: skip
    print(f"raw COPY of {copied} normalised rows (baseline): {raw:6.2f} s")
    print(f"ratio import / raw COPY: {in_process / raw:.2f}x")
    cores = os.cpu_count() or 1
    print(f"CPU seconds of the import: postgres {server_cpu:.1f}, ccd main process "
          f"{main_cpu:.1f}, number parsing (worker processes; measured alone) {parse_cpu:.1f}; "
          f"raw COPY: postgres {raw_server_cpu:.1f}")  # fmt: skip
    # What the work needs on this machine with nothing else running: all of it shared over
    # the cores, but never faster than its busiest single process.
    idle = max((server_cpu + main_cpu + parse_cpu) / cores, server_cpu, main_cpu)
    print(f"CPU-bound estimate on an idle {cores}-core machine: {idle:.1f} s "
          f"({idle * 1_000_000 / result.rows:.1f} s per 1 M rows)")  # fmt: skip
    phones.report(50_000)
    per_million = in_process * 1_000_000 / result.rows
    verdict = "meets" if per_million <= TARGET_S else "MISSES"
    print(f"1 M rows in {per_million:.1f} s: {verdict} the {TARGET_S:.0f} s target")


def main() -> None:
    load1, _, _ = os.getloadavg()
    print(f"load average at start: {load1:.1f} on {os.cpu_count()} cores")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "leads.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        print(f"generated {args.rows} rows in {time.perf_counter() - started:.1f} s")
        with bench_database("ccd_bench") as url:
            asyncio.run(bench(url, csv_path, csv_path.stat().st_size / 2**20))


if __name__ == "__main__":
    main()
