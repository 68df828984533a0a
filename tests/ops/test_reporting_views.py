"""The reporting functions and views give the figures worked out by hand from the seed.

See conftest.py for the seeded call center; every expected number is derived in a comment.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg

from ccd.store import migrate
from ccd.store.abandon import abandon_counts
from ccd.store.db import connect

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
DOC = Path(__file__).resolve().parents[2] / "docs" / "reporting.md"


def _by(rows: list[asyncpg.Record], key: str) -> dict[object, asyncpg.Record]:
    return {r[key]: r for r in rows}


async def test_campaign_daily_figures(seeded: asyncpg.Connection) -> None:
    rows = await seeded.fetch(
        "SELECT * FROM report_campaign_daily($1, $2) WHERE campaign_id = 1 ORDER BY day", D1, D2
    )
    assert [r["day"] for r in rows] == [D1, D2]
    d1, d2 = rows
    assert d1["campaign"] == "spring"
    # D1: 7 attempts; line answered by 1, 2, 3 (dropped), 6 (machine); people: 1, 2, 3.
    assert (d1["attempts"], d1["answered"], d1["contacts"], d1["drops"]) == (7, 4, 3, 1)
    assert d1["answer_rate"] == Decimal("0.4286")  # 3 / 7
    assert d1["abandon_rate"] == Decimal("0.3333")  # 1 / 3
    # Rolling 30 days (Feb 1 .. Mar 2) takes in the drop of Feb 20: (1 + 1) / (3 + 1).
    assert d1["abandon_rate_30d"] == Decimal("0.5000")
    # Talk: 132-12 = 120 s and 80-20 = 60 s; wrap: 162-132 = 30 s and 90-80 = 10 s.
    assert (d1["talk_s"], d1["avg_talk_s"], d1["wrap_s"], d1["avg_wrap_s"]) == (
        180, Decimal("90.0"), 40, Decimal("20.0"),
    )  # fmt: skip
    assert (d1["disp_end"], d1["disp_callback"], d1["disp_dropped"], d1["disp_no_answer"],
            d1["disp_busy"], d1["disp_voicemail"], d1["disp_congestion"], d1["disp_fax"]) == (
        1, 1, 1, 1, 1, 1, 1, 0,
    )  # fmt: skip
    # D2: 4 attempts, 3 people (8, 9, 10), 2 of them dropped; talk 311-11 = 300 s, wrap 0.
    assert (d2["attempts"], d2["contacts"], d2["drops"]) == (4, 3, 2)
    assert (d2["answer_rate"], d2["abandon_rate"]) == (Decimal("0.7500"), Decimal("0.6667"))
    # Rolling (Feb 2 .. Mar 3): drops 1 + 1 + 2 = 4 over contacts 1 + 3 + 3 = 7.
    assert d2["abandon_rate_30d"] == Decimal("0.5714")
    assert (d2["talk_s"], d2["wrap_s"], d2["avg_wrap_s"]) == (300, 0, Decimal("0.0"))


async def test_a_talked_call_cut_lost_is_a_contact_as_the_pacer_counts_it(
    seeded: asyncpg.Connection,
) -> None:
    """An Asterisk restart cut a talked call (LOST, bridged): a person was reached. The
    report counts it as the pacer's abandon window does; an unbridged LOST call is not."""
    await seeded.execute(
        "INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, answered_at,"
        " bridged_at, ended_at, outcome, disposition, disposition_source)"
        " SELECT gen_random_uuid(), 2, 9, '+74950000009', 'ended', t, t + interval '9 s',"
        " CASE WHEN talked THEN t + interval '10 s' END, t + interval '70 s', 'LOST',"
        " CASE WHEN talked THEN 'END' ELSE 'FAILED' END, 'auto'"
        " FROM (VALUES (TIMESTAMPTZ '2026-03-02 11:00', true),"
        "              (TIMESTAMPTZ '2026-03-02 11:05', false)) v(t, talked)"
    )
    (row,) = await seeded.fetch("SELECT * FROM report_campaign_daily($1, $1) WHERE campaign_id = 2",
                                D1)  # fmt: skip
    # campaign 2 on D1: the dropped call and the talked LOST one
    assert (row["attempts"], row["contacts"], row["drops"]) == (3, 2, 1)
    assert row["abandon_rate"] == Decimal("0.5000")
    window = await abandon_counts(seeded, 2, datetime(2026, 3, 2, tzinfo=UTC),
                                  datetime(2026, 3, 3, tzinfo=UTC))  # fmt: skip
    assert (window.answered, window.dropped) == (row["contacts"], row["drops"])


async def test_campaign_view_equals_function_and_windows_back_30_days(
    seeded: asyncpg.Connection,
) -> None:
    view = await seeded.fetch(
        "SELECT * FROM report_campaign_daily WHERE campaign_id = 1 ORDER BY day"
    )
    assert [r["day"] for r in view] == [date(2026, 1, 20), date(2026, 2, 20), D1, D2]
    # Jan 20 is 31 days before Feb 20: out of Feb 20's window, so 1 drop / 1 contact.
    assert view[1]["abandon_rate_30d"] == Decimal("1.0000")
    func = await seeded.fetch(
        "SELECT * FROM report_campaign_daily($1, $2) WHERE campaign_id = 1 ORDER BY day", D1, D2
    )
    assert [dict(r) for r in view[2:]] == [dict(r) for r in func]
    other = await seeded.fetch("SELECT * FROM report_campaign_daily WHERE campaign_id = 2")
    assert [(r["day"], r["attempts"], r["drops"]) for r in other] == [(D1, 1, 1)]


async def test_agent_daily_intervals(seeded: asyncpg.Connection) -> None:
    rows = await seeded.fetch("SELECT * FROM report_agent_daily($1, $2)", D1, D2)
    got = {(r["login"], r["day"]): r for r in rows}
    assert set(got) == {("alice", D1), ("bob", D1), ("bob", D2), ("carol", D2)}
    a = got["alice", D1]
    # 08:00-17:00 logged in. READY 08-09, 09:15-10:00, 10:02:42-12:00, 13-17 = 27738 s.
    assert (a["login_s"], a["ready_s"], a["reserved_s"], a["talk_s"], a["wrap_s"]) == (
        32400, 27738, 12, 120, 30,
    )  # fmt: skip
    assert a["pause_s"] == 4500
    assert a["pause_by_reason"] == {"break": 900, "lunch": 3600}
    assert (a["calls"], a["inbound_calls"]) == (1, 1)
    assert a["occupancy"] == Decimal("0.0054")  # (120 + 30) / (27738 + 12 + 120 + 30)
    # Bob: READY 22:00 .. 02:00 cut at midnight.
    assert got["bob", D1]["ready_s"] == 7200 and got["bob", D2]["ready_s"] == 7200
    assert (got["bob", D1]["calls"], got["bob", D1]["inbound_calls"]) == (1, 3)
    assert got["bob", D1]["pause_by_reason"] == {}
    # Carol is still READY: her open interval runs to the end of the range.
    assert got["carol", D2]["login_s"] == 3600


async def test_agent_daily_takes_the_state_from_before_the_range(
    seeded: asyncpg.Connection,
) -> None:
    rows = await seeded.fetch("SELECT * FROM report_agent_daily($1, $1) WHERE login = 'bob'", D2)
    assert [(r["day"], r["ready_s"], r["login_s"]) for r in rows] == [(D2, 7200, 7200)]


async def test_hourly_outcomes(seeded: asyncpg.Connection) -> None:
    rows = await seeded.fetch(
        "SELECT hour, outcome, attempts, share FROM report_hourly_outcomes($1, $1)"
        " WHERE campaign_id = 1 ORDER BY hour, outcome",
        D1,
    )
    assert [tuple(r) for r in rows] == [
        (10, "ANSWERED", 2, Decimal("1.0000")),
        (11, "BUSY", 1, Decimal("0.2500")),
        (11, "DROPPED", 1, Decimal("0.2500")),
        (11, "MACHINE", 1, Decimal("0.2500")),
        (11, "NO_ANSWER", 1, Decimal("0.2500")),
        (12, "CONGESTION", 1, Decimal("1.0000")),
    ]


async def test_list_penetration(seeded: asyncpg.Connection) -> None:
    r = await seeded.fetchrow("SELECT * FROM report_list_penetration WHERE campaign = 'spring'")
    assert (r["leads"], r["new"], r["in_progress"], r["retry"], r["callback"], r["done"],
            r["blacklisted"], r["exhausted"]) == (8, 2, 1, 1, 1, 1, 1, 1)  # fmt: skip
    assert r["dialable_on_blacklist"] == 1  # lead 7 (retry) is on the do-not-call list
    assert r["dialed"] == 6
    assert (r["penetration"], r["closed_rate"]) == (Decimal("0.7500"), Decimal("0.3750"))


async def test_trunk_usage(seeded: asyncpg.Connection) -> None:
    daily = _by(await seeded.fetch("SELECT * FROM report_trunk_daily($1, $1)", D1), "trunk")
    city, sip = daily["city"], daily["sip"]
    # city: attempts 1, 2, 5 (busy); sip: 3, 4 (no answer), 6, 7 (congestion).
    assert (city["attempts"], city["answered"], city["busy"], city["failures"]) == (3, 2, 1, 0)
    assert city["asr"] == Decimal("0.6667")
    assert (sip["attempts"], sip["answered"], sip["no_answer"], sip["failures"]) == (4, 2, 1, 1)
    assert (sip["asr"], sip["failure_rate"]) == (Decimal("0.5000"), Decimal("0.2500"))
    causes = await seeded.fetch(
        "SELECT cause, sip_code, outcome, attempts FROM report_trunk_causes($1, $1)"
        " WHERE trunk = 'sip' ORDER BY cause, outcome",
        D1,
    )
    assert [tuple(r) for r in causes] == [
        (16, None, "DROPPED", 1), (16, None, "MACHINE", 1), (19, None, "NO_ANSWER", 1),
        (34, 503, "CONGESTION", 1),
    ]  # fmt: skip


async def test_queue_service_level(seeded: asyncpg.Connection) -> None:
    rows = await seeded.fetch("SELECT * FROM report_queue_hourly($1, $1) ORDER BY queue", D1)
    assert [r["queue"] for r in rows] == ["sales", "support"]  # the IVR-only call is not offered
    s = rows[0]
    assert (s["day"], s["hour"], s["offered"], s["answered"], s["abandoned"]) == (D1, 14, 4, 3, 1)
    assert s["abandon_rate"] == Decimal("0.2500")
    assert s["asa_s"] == Decimal("20.0")  # (10 + 30 + 20) / 3
    assert s["max_wait_s"] == Decimal("45.0")  # the caller who gave up after 45 s
    assert (s["answered_in_sl"], s["service_level"]) == (2, Decimal("0.5000"))  # 10 s, 20 s
    strict = await seeded.fetchrow(
        "SELECT answered_in_sl, sl_threshold_s FROM report_queue_hourly($1, $1, 15)"
        " WHERE queue = 'sales'",
        D1,
    )
    assert tuple(strict) == (1, 15)


async def test_days_follow_the_session_time_zone(seeded: asyncpg.Connection) -> None:
    await seeded.execute("SET TIME ZONE 'Asia/Vladivostok'")  # UTC+10: Bob's night is one day
    rows = await seeded.fetch("SELECT day, ready_s FROM report_agent_daily() WHERE login = 'bob'")
    assert [tuple(r) for r in rows] == [(D2, 14400)]


async def test_campaign_range_uses_the_campaign_time_index(seeded: asyncpg.Connection) -> None:
    await seeded.execute("SET enable_seqscan = off")  # the seed is tiny; ask which index fits
    plan = "\n".join(
        r[0]
        for r in await seeded.fetch(
            "EXPLAIN SELECT * FROM report_campaign_daily('2026-03-01', '2026-03-31')"
            " WHERE campaign_id = 1"
        )
    )
    assert "ix_attempts_campaign_created" in plan, plan
    assert "Index Cond: ((campaign_id = 1) AND (created_at >=" in plan, plan


async def test_downgrade_drops_reports(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    await asyncio.to_thread(migrate.downgrade, empty_db_url, "0001")
    conn = await connect(empty_db_url)
    try:
        left = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relname LIKE 'report\\_%' OR relname LIKE '%brin'"
            " UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'report\\_%'"
        )
    finally:
        await conn.close()
    assert left == []
    await asyncio.to_thread(migrate.upgrade, empty_db_url)


async def test_every_example_query_in_the_docs_runs(seeded: asyncpg.Connection) -> None:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)  # noqa: ASYNC240
    statements = [s.strip() for b in blocks for s in b.split(";\n") if s.strip()]
    assert len(statements) >= 10
    for sql in statements:
        await seeded.fetch(sql.rstrip(";"))  # raises on any error in the example
