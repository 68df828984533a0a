"""Planning a mailing for 1 M contacts across 6 segments, against a raw COPY of the same rows.

Fills a fresh database with contacts (phone, e-mail for most, ages, genders, languages,
social statuses, a balance field, preferred channels), consent history (opt-ins, some
opt-outs), a blacklist and recent marketing messages (the cap), then times planning
(segment, consent, cap, channel choice, template render, message rows written) of a marketing
mailing with six variants. Baseline in the same run: a raw COPY of the rows planning wrote
into another mailing. Prints both and the ratio. Target: 1 M contacts in <= 30 s.

Database: CCD_DATABASE_URL, else a temporary database on 127.0.0.1:5432 (dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import asyncpg
from _database import bench_database

from ccd.messaging.planner import plan
from ccd.messaging.spec import MailingSpec
from ccd.store import mailings as store
from ccd.store.db import connect, create_pool
from ccd.store.segments import save_segment

TARGET_S = 30.0
SEGMENTS = {
    "seniors": ["age >= 60"],
    "students": ["social_status in [student]"],
    "workers": ["age >= 25", "age < 60"],
    "youth": ["age < 25"],
    "ukrainian": ["language = uk"],
}


def _variant(segment: str | None, channels: list[str]) -> dict[str, object]:
    templates = {
        "sms": {"text": {"default": "Hi {first_name}, balance {fields.balance}",
                         "uk": "Привіт {first_name}, баланс {fields.balance}"},
                "fallback": "Please check your balance"},
        "email": {"subject": "{first_name}, your offer",
                  "text": {"default": "Dear {first_name} {last_name},\n\nYour balance is"
                                      " {fields.balance}. {fields.offer}"},
                  "fallback": "Dear customer, see our offers."},
    }  # fmt: skip
    return {"segment": segment, "channels": channels,
            "templates": {c: templates[c] for c in channels}}  # fmt: skip


SPEC = MailingSpec.model_validate({"variants": [
    _variant("seniors", ["sms"]), _variant("students", ["sms", "email"]),
    _variant("workers", ["sms", "email"]), _variant("youth", ["sms"]),
    _variant("ukrainian", ["email", "sms"]), _variant(None, ["email", "sms"]),
]})  # fmt: skip


async def populate(conn: asyncpg.Connection, n: int) -> None:
    await conn.execute(
        """
        INSERT INTO contacts (phone, email, first_name, last_name, birth_date, gender, language,
                              social_status, time_zone, fields, preferred_channels)
        SELECT '+38044' || lpad(g::text, 7, '0'),
               CASE WHEN g % 5 <> 0 THEN 'c' || g || '@example.com' END,
               (ARRAY['Olena', 'Ivan', 'Petro', 'Maria', 'Taras'])[1 + g % 5],
               (ARRAY['Koval', 'Shevchenko', 'Bondar'])[1 + g % 3],
               CASE WHEN g % 17 <> 0 THEN date '2008-01-01' - (g % 25000) END,
               (ARRAY['f', 'm'])[1 + g % 2], (ARRAY['uk', 'en', 'ru', 'uk'])[1 + g % 4],
               (ARRAY['worker', 'student', 'retired', NULL])[1 + g % 4],
               (ARRAY['Europe/Kyiv', 'Europe/Warsaw', NULL])[1 + g % 3],
               CASE WHEN g % 7 <> 0
                    THEN jsonb_build_object('balance', (g % 1000) || '.50', 'offer', 'Save 10%')
                    ELSE '{}'::jsonb END,
               CASE g % 3 WHEN 0 THEN ARRAY['email', 'sms'] WHEN 1 THEN ARRAY['sms']
                          ELSE ARRAY[]::text[] END
        FROM generate_series(1, $1) g
        """,
        n,
    )
    await conn.execute(
        """
        INSERT INTO consent_events (contact_id, channel, purpose, status, method)
        SELECT id, ch, 'marketing', CASE WHEN id % 31 = 0 THEN 'opt_out' ELSE 'opt_in' END,
               'import'
        FROM contacts, unnest(ARRAY['sms', 'email']) ch WHERE id % 10 <> 0
        """
    )
    await conn.execute(
        "INSERT INTO blacklist (phone, reason) SELECT phone, 'dnc' FROM contacts WHERE id % 101 = 0"
    )
    await conn.execute(
        "INSERT INTO contact_marketing (contact_id, last_at, message_id)"
        " SELECT id, now() - interval '3 days', 0 FROM contacts WHERE id % 23 = 0"
    )
    await conn.execute("ANALYZE")


async def _raw_copy(url: str, source: int, target: int) -> tuple[int, float]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f"SELECT {', '.join(store.MESSAGE_COLUMNS)} FROM mailing_messages"
            " WHERE mailing_id = $1 ORDER BY id",
            source,
        )
        # The same rows, under the target mailing's own variants (same positions).
        pairs = await conn.fetch(
            "SELECT s.id, t.id FROM mailing_variants s JOIN mailing_variants t"
            " USING (position) WHERE s.mailing_id = $1 AND t.mailing_id = $2",
            source,
            target,
        )
        variant = {int(r[0]): int(r[1]) for r in pairs}
        records = [(target, variant[r[1]], *tuple(r)[2:]) for r in rows]
        del rows
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(
                "mailing_messages", records=records, columns=store.MESSAGE_COLUMNS
            )
        return len(records), time.perf_counter() - started
    finally:
        await conn.close()


async def bench(url: str, n: int) -> None:
    conn = await connect(url)
    try:
        started = time.perf_counter()
        await populate(conn, n)
        print(f"populated {n} contacts in {time.perf_counter() - started:.1f} s")
        for name, rules in SEGMENTS.items():
            await save_segment(conn, name, rules)
        mid = await store.create_mailing(conn, "bench", "marketing", SPEC)
        copy_mid = await store.create_mailing(conn, "bench-copy", "marketing", SPEC)
        pool = await create_pool(url, min_size=2, max_size=2)
        try:
            started = time.perf_counter()
            written = await plan(pool, mid, 14)
            planned = time.perf_counter() - started
        finally:
            await pool.close()
        states = await conn.fetch(
            "SELECT coalesce(channel, reason) AS k, count(*) AS n FROM mailing_messages"
            " GROUP BY 1 ORDER BY 1"
        )
    finally:
        await conn.close()
    copied, raw = await _raw_copy(url, mid, copy_mid)
    print("rows by channel or left-out reason: "
          + ", ".join(f"{r['k']} {r['n']}" for r in states))  # fmt: skip
    print(f"plan (segment, consent, cap, channel, render, rows written): {planned:6.2f} s "
          f"({written / planned:,.0f} contacts/s)")  # fmt: skip
    print(f"raw COPY of the same {copied} rows (baseline):                   {raw:6.2f} s")
    print(f"ratio plan / raw COPY: {planned / raw:.2f}x")
    per_million = planned * 1_000_000 / n
    verdict = "meets" if per_million <= TARGET_S else "MISSES"
    print(f"1 M contacts in {per_million:.1f} s: {verdict} the {TARGET_S:.0f} s target")


def main() -> None:
    load1, _, _ = os.getloadavg()
    print(f"load average at start: {load1:.1f} on {os.cpu_count()} cores")
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    args = parser.parse_args()
    with bench_database("ccd_bench_mail") as url:
        asyncio.run(bench(url, args.contacts))


if __name__ == "__main__":
    main()
