"""Reporting views over 10 M attempts: time each report for one campaign and 30 days.

Fills a temporary database on the local PostgreSQL (generate_series in SQL, no client-side
rows), migrates it to head, runs every report query a few times and prints the median time
next to a baseline measured in the same run: a bare count(*) over the same attempt rows.
Target: every campaign-summary query <= 1 s. The database is dropped at the end.

    .venv/bin/python bench/reports.py [--attempts 10000000] [--server URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from datetime import date, timedelta

import asyncpg

from ccd.store import migrate
from ccd.store.db import with_database

CAMPAIGNS = 20
AGENTS = 200
TRUNKS = 4
DAYS = 180  # the default retention: history never grows past it
LEADS_PER_CAMPAIGN = 100_000
RUNS = 5
TARGET_S = 1.0

FILL = [
    (
        "campaigns",
        f"INSERT INTO campaigns (name, mode, status) SELECT 'campaign-' || g, 'PREDICTIVE',"
        f" 'running' FROM generate_series(1, {CAMPAIGNS}) g",
    ),
    (
        "trunks",
        f"INSERT INTO trunks (name, kind, dial_template, max_channels) SELECT 'trunk-' || g,"
        f" 'sip', 'PJSIP/{{number}}@t' || g, 120 FROM generate_series(1, {TRUNKS}) g",
    ),
    (
        "agents",
        f"INSERT INTO agents (login, name, endpoint) SELECT 'a' || g, 'Agent ' || g,"
        f" 'PJSIP/agent' || g FROM generate_series(1, {AGENTS}) g",
    ),
    (
        "leads",
        f"INSERT INTO leads (campaign_id, phone, status, attempts)"
        f" SELECT c, '+7495' || lpad((c * {LEADS_PER_CAMPAIGN} + g)::text, 9, '0'),"
        f" (ARRAY['new','retry','done','exhausted','blacklisted'])[1 + g % 5], g % 6"
        f" FROM generate_series(1, {CAMPAIGNS}) c, generate_series(0, {LEADS_PER_CAMPAIGN - 1}) g",
    ),
]

# One chunk of attempts: rows in time order (as the engine writes them), campaigns interleaved.
# r is a per-row pseudo-random 0..99 that picks the outcome with realistic shares.
ATTEMPTS_CHUNK = f"""
INSERT INTO attempts (id, campaign_id, lead_id, phone, trunk_id, agent_id, state, created_at,
                      originated_at, answered_at, bridged_at, ended_at, wrapup_ended_at,
                      cause, outcome, disposition, disposition_source)
SELECT gen_random_uuid(), c, (c - 1) * {LEADS_PER_CAMPAIGN} + 1 + (g / {CAMPAIGNS}) %
       {LEADS_PER_CAMPAIGN}, '+74950000000', 1 + g % {TRUNKS},
       CASE WHEN r < 30 THEN 1 + g % {AGENTS} END, 'ended', t,
       t + interval '1 s',
       CASE WHEN r < 31 OR r >= 90 THEN t + interval '12 s' END,
       CASE WHEN r < 30 THEN t + interval '13 s' END,
       t + interval '12 s' + CASE WHEN r < 30 THEN (60 + r * 7) * interval '1 s'
                                  ELSE interval '20 s' END,
       CASE WHEN r < 30 THEN t + interval '12 s' + (80 + r * 7) * interval '1 s' END,
       CASE WHEN r < 31 OR r >= 90 THEN 16 WHEN r < 66 THEN 19 WHEN r < 76 THEN 17
            WHEN r < 81 THEN 34 WHEN r < 84 THEN 38 ELSE 1 END,
       o[1], o[2], CASE WHEN r < 30 THEN 'agent' ELSE 'auto' END
FROM (
    SELECT g, 1 + g % {CAMPAIGNS} AS c, (hashint4(g::int) & 1023) % 100 AS r,
           $3::timestamptz + (g::float8 / $4) * interval '{DAYS} days' AS t
    FROM generate_series($1::bigint, $2::bigint) g
) s
CROSS JOIN LATERAL (SELECT CASE
    WHEN r < 25 THEN ARRAY['ANSWERED', 'END'] WHEN r < 30 THEN ARRAY['ANSWERED', 'CALLBACK']
    WHEN r < 31 THEN ARRAY['DROPPED', 'DROPPED'] WHEN r < 66 THEN ARRAY['NO_ANSWER', 'NO_ANSWER']
    WHEN r < 76 THEN ARRAY['BUSY', 'BUSY'] WHEN r < 81 THEN ARRAY['CONGESTION', 'CONGESTION']
    WHEN r < 84 THEN ARRAY['FAILED', 'FAILED'] WHEN r < 87 THEN ARRAY['BAD_NUMBER', 'BAD_NUMBER']
    WHEN r < 90 THEN ARRAY['FAX', 'FAX'] ELSE ARRAY['MACHINE', 'VOICEMAIL'] END AS o) x
"""

# ~40 state changes per agent per working day, cycling through a realistic sequence.
STATE_LOG = f"""
INSERT INTO agent_state_log (agent_id, at, from_state, to_state, event, reason)
SELECT a, $1::timestamptz + d * interval '1 day' + interval '8 hours' + k * interval '12 min',
       s[1 + (k + 5) % 6], s[1 + k % 6], 'bench',
       CASE WHEN s[1 + k % 6] = 'PAUSED' THEN (ARRAY['lunch','break'])[1 + k % 2] END
FROM generate_series(1, {AGENTS}) a, generate_series(0, {DAYS - 1}) d,
     generate_series(0, 40) k,
     (SELECT ARRAY['READY','RESERVED','TALKING','WRAP_UP','READY','PAUSED'] AS s) q
"""

INBOUND = f"""
INSERT INTO inbound_calls (id, did, queue, started_at, queued_at, answered_at, ended_at,
                           agent_id, outcome)
SELECT 'in-' || g, '+78001000000', 'queue-' || (1 + g % 4), t, t + interval '15 s',
       CASE WHEN g % 10 <> 0 THEN t + interval '15 s' + (g % 40) * interval '1 s' END,
       t + interval '200 s', CASE WHEN g % 10 <> 0 THEN 1 + g % {AGENTS} END,
       CASE WHEN g % 10 <> 0 THEN 'answered' ELSE 'abandoned_queue' END
FROM (SELECT g, $1::timestamptz + (g::float8 / $2) * interval '{DAYS} days' AS t
      FROM generate_series(1, $2::bigint) g) s
"""


async def fill(url: str, n_attempts: int, start: date) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        for name, sql in FILL:
            t0 = time.perf_counter()
            await conn.execute(sql)
            print(f"  filled {name:<16} {time.perf_counter() - t0:7.1f} s", flush=True)
        chunk = 1_000_000
        t0 = time.perf_counter()
        for lo in range(0, n_attempts, chunk):
            hi = min(lo + chunk, n_attempts) - 1
            await conn.execute(ATTEMPTS_CHUNK, lo, hi, start, n_attempts)
            print(f"  filled attempts {hi + 1:>12,} {time.perf_counter() - t0:7.1f} s", flush=True)
        t0 = time.perf_counter()
        await conn.execute(STATE_LOG, start)
        await conn.execute(INBOUND, start, n_attempts // 10)
        print(f"  filled state log + inbound {time.perf_counter() - t0:7.1f} s", flush=True)
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        print(f"  vacuum analyze {time.perf_counter() - t0:7.1f} s", flush=True)
    finally:
        await conn.close()


async def timed(conn: asyncpg.Connection, sql: str, *args: object) -> tuple[float, int]:
    """Median wall time over RUNS (after one warm-up run) and the row count."""
    rows = await conn.fetch(sql, *args)
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        await conn.fetch(sql, *args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(rows)


async def measure(url: str, start: date) -> bool:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET jit = off")  # as `ccd report` does (see ccd/store/reports.py)
        total = await conn.fetchval("SELECT count(*) FROM attempts")
        cid = 7
        d_from = start + timedelta(days=DAYS - 45)
        d_to = d_from + timedelta(days=29)
        rng = (d_from, d_to)
        baseline, _ = await timed(
            conn,
            "SELECT count(*) FROM attempts WHERE campaign_id = $1"
            " AND created_at >= $2::date::timestamptz AND created_at < ($3::date + 1)::timestamptz",
            cid,
            *rng,
        )
        in_range = await conn.fetchval(
            "SELECT count(*) FROM attempts WHERE campaign_id = $1"
            " AND created_at >= $2::date::timestamptz AND created_at < ($3::date + 1)::timestamptz",
            cid,
            *rng,
        )
        print(f"\n{total:,} attempts; campaign {cid}, {d_from} .. {d_to}: {in_range:,} attempts")
        print(f"baseline: SELECT count(*) over those rows: {baseline * 1000:8.1f} ms\n")
        queries = [
            (
                "campaign summary, 30 days (function)",
                True,
                "SELECT * FROM report_campaign_daily($2, $3) WHERE campaign_id = $1",
                (cid, *rng),
            ),
            (
                "campaign summary, 30 days (view)",
                True,
                "SELECT * FROM report_campaign_daily WHERE campaign_id = $1"
                " AND day BETWEEN $2 AND $3",
                (cid, *rng),
            ),
            (
                "hourly outcomes, 30 days",
                True,
                "SELECT * FROM report_hourly_outcomes($2, $3) WHERE campaign_id = $1",
                (cid, *rng),
            ),
            (
                "list penetration, one campaign",
                True,
                "SELECT * FROM report_list_penetration WHERE campaign_id = $1",
                (cid,),
            ),
            (
                "agent daily, all agents, 30 days",
                False,
                "SELECT * FROM report_agent_daily($1, $2)",
                rng,
            ),
            (
                "agent daily, one agent, 30 days",
                False,
                "SELECT * FROM report_agent_daily($2, $3) WHERE agent_id = $1",
                (17, *rng),
            ),
            (
                "trunk daily, all trunks, 30 days",
                False,
                "SELECT * FROM report_trunk_daily($1, $2)",
                rng,
            ),
            (
                "trunk causes, all trunks, 30 days",
                False,
                "SELECT * FROM report_trunk_causes($1, $2)",
                rng,
            ),
            (
                "queue hourly, one queue, 30 days",
                False,
                "SELECT * FROM report_queue_hourly($2, $3) WHERE queue = $1",
                ("queue-2", *rng),
            ),
        ]
        ok = True
        print(f"{'query':<40} {'rows':>6} {'median ms':>10} {'x baseline':>11}  target")
        for label, campaign_summary, sql, args in queries:
            secs, n = await timed(conn, sql, *args)
            verdict = ""
            if campaign_summary:
                passed = secs <= TARGET_S
                ok = ok and passed
                verdict = "ok (<= 1 s)" if passed else "SLOW (> 1 s)"
            print(
                f"{label:<40} {n:>6} {secs * 1000:>10.1f} {secs / baseline:>11.1f}  {verdict}",
                flush=True,
            )
        return ok
    finally:
        await conn.close()


async def _first_day(url: str) -> date:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE attempts")
        return await conn.fetchval("SELECT min(created_at)::date FROM attempts")  # type: ignore[no-any-return]
    finally:
        await conn.close()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--attempts", type=int, default=10_000_000)
    ap.add_argument("--keep", metavar="DB", help="fill database DB and keep it (no measuring)")
    ap.add_argument("--reuse", metavar="DB", help="measure a database kept by --keep")
    ap.add_argument(
        "--server",
        default=os.environ.get("CCD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ns = ap.parse_args()
    start = date.today() - timedelta(days=DAYS)
    if ns.reuse:
        url = with_database(ns.server, ns.reuse)
        await asyncio.to_thread(migrate.upgrade, url)
        first = await _first_day(url)
        return 0 if await measure(url, first) else 1
    name = ns.keep or f"ccd_bench_reports_{os.getpid()}"
    admin = await asyncpg.connect(ns.server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(ns.server, name)
    if ns.keep:
        await asyncio.to_thread(migrate.upgrade, url)
        await fill(url, ns.attempts, start)
        await admin.close()
        return 0
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        t0 = time.perf_counter()
        await fill(url, ns.attempts, start)
        print(f"fill total {time.perf_counter() - t0:.1f} s")
        ok = await measure(url, start)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print("\nall campaign-summary queries within 1 s" if ok else "\nTARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
