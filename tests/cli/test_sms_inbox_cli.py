"""`ccd sms keyword add/list/remove` and `ccd export inbox` against the real database; the
inbox views (per code per day, response times, outcomes) read back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import openpyxl

from ccd.messaging.keywords import ConsentAction, fold
from ccd.store.inbox import Incoming, store_batch
from tests.cli.conftest import Invoke
from tests.cli.test_routing_blacklist import rows

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_keyword_add_list_remove(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("sms", "keyword", "add", "vote", "--assign", "inbox")
    assert r.exit_code == 0 and "keyword VOTE added (inbox)" in r.output, r.output
    r = await ccd("sms", "keyword", "add", "Запись", "--reply", "Ждём вас, {first_name}",
                  "--assign", "auto", "--opt-in")  # fmt: skip
    assert r.exit_code == 0 and "keyword ЗАПИСЬ added (auto, opt-in)" in r.output, r.output
    r = await ccd("sms", "keyword", "add", "ЗАПИСЬ", "--assign", "inbox")
    assert r.exit_code == 2 and "a rule for 'ЗАПИСЬ' exists already" in r.output
    r = await ccd("sms", "keyword", "add", "STOP", "--opt-in")
    assert r.exit_code == 2 and "--opt-in: STOP is a STOP word" in r.output
    r = await ccd("sms", "keyword", "add", "x", "--opt-in", "--opt-out")
    assert r.exit_code == 2 and "one or the other" in r.output
    r = await ccd("sms", "keyword", "add", "VIP", "--assign", "queue")
    assert r.exit_code == 2 and "--assign: 'queue' is not inbox or auto" in r.output

    listing = rows((await ccd("sms", "keyword", "list")).stdout)
    assert "VOTE inbox" in listing
    assert "ЗАПИСЬ auto opt_in Ждём вас, {first_name}" in listing
    assert any(line.startswith("СТОП auto opt_out") and line.endswith("built in")
               for line in listing)  # fmt: skip
    row = await pool.fetchrow("SELECT * FROM sms_keywords WHERE code = 'ЗАПИСЬ'")
    assert (row["assign"], row["consent"], row["match_key"]) == ("auto", "opt_in", fold("запись"))

    assert (await ccd("sms", "keyword", "remove", "zapis")).exit_code == 2
    r = await ccd("sms", "keyword", "remove", "стоп")
    assert r.exit_code == 2 and "built-in STOP word" in r.output
    r = await ccd("sms", "keyword", "remove", "запись")
    assert r.exit_code == 0, r.output
    assert await pool.fetchval("SELECT array_agg(code) FROM sms_keywords") == ["VOTE"]


def _item(sender: str, text: str, at: datetime, keyword: str | None, status: str) -> Incoming:
    consent = ConsentAction.OPT_OUT if keyword == "STOP" else None
    return Incoming("l1", sender, "7333", text, "gsm7", 1, True, at, keyword, status, consent)


async def _seed(pool: asyncpg.Pool) -> list[int]:
    await pool.execute("INSERT INTO contacts (phone, first_name) VALUES ('+79161234567', 'Анна')")
    async with pool.acquire() as conn:
        stored = await store_batch(conn, [
            _item("+79161234567", "VOTE 1", T0, "VOTE", "new"),
            _item("+79031112233", '=HYPERLINK("x")', T0 + timedelta(minutes=5), None, "new"),
            _item("+79031112233", "vote 2", T0 + timedelta(days=1), "VOTE", "new"),
            _item("+79161234567", "STOP", T0 + timedelta(days=1, hours=1), "STOP", "auto"),
        ], window=timedelta(minutes=10))  # fmt: skip
    ids = [s.id for s in stored]
    # a manager answered the first VOTE 90 s later; a failed attempt does not count
    await pool.execute(
        "INSERT INTO sms_replies (inbound_id, phone, kind, text, state, created_at) VALUES"
        " ($1, '+79161234567', 'manual', 'no', 'failed', $2),"
        " ($1, '+79161234567', 'manual', 'Спасибо!', 'sent', $3)",
        ids[0], T0 + timedelta(seconds=30), T0 + timedelta(seconds=90),
    )  # fmt: skip
    await pool.execute("UPDATE sms_inbound SET status = 'done' WHERE id = $1", ids[0])
    return ids


async def test_export_inbox_csv_and_xlsx(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    ids = await _seed(pool)
    r = await ccd("export", "inbox", "--tz", "UTC")
    assert r.exit_code == 0, r.output
    got = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [g["text"] for g in got] == ["VOTE 1", '\'=HYPERLINK("x")', "vote 2", "STOP"]
    first = got[0]
    assert (first["sender"], first["contact"], first["keyword"], first["status"]) == (
        "+79161234567", "Анна", "VOTE", "done")  # fmt: skip
    assert (first["first_reply"], first["response_s"]) == ("Спасибо!", "90.0")
    assert first["first_reply_at"].startswith("2026-12-01 09:01:30")

    out = tmp_path / "votes.xlsx"
    r = await ccd("export", "inbox", "--code", "vote", "--from", "2026-12-01", "--to",
                  "2026-12-01", "--format", "xlsx", "--out", str(out), "--tz", "UTC")  # fmt: skip
    assert r.exit_code == 0 and "1 inbound messages exported" in r.output, r.output
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    values = dict(zip(header, [c.value for c in sheet[2]], strict=True))
    assert (values["id"], values["text"], values["response_s"]) == (ids[0], "VOTE 1", 90)
    assert sheet.max_row == 2
    assert out.stat().st_mode & 0o777 == 0o600
    r = await ccd("export", "inbox", "--format", "xlsx")
    assert r.exit_code == 2 and "--out" in r.output


async def test_the_inbox_views(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    await pool.execute("SET TimeZone = 'UTC'")
    daily = await pool.fetch(
        "SELECT day::text, keyword, received, auto, open, done, replied FROM sms_inbound_daily"
        " ORDER BY day, keyword NULLS LAST"
    )
    assert [tuple(r) for r in daily] == [
        ("2026-12-01", "VOTE", 1, 0, 0, 1, 1), ("2026-12-01", None, 1, 0, 1, 0, 0),
        ("2026-12-02", "STOP", 1, 1, 0, 0, 0), ("2026-12-02", "VOTE", 1, 0, 1, 0, 0),
    ]  # fmt: skip
    outcomes = await pool.fetch(
        "SELECT keyword, status, messages, replied, avg_response_s FROM sms_outcomes"
        " WHERE keyword = 'VOTE' ORDER BY status"
    )
    assert [tuple(r) for r in outcomes] == [("VOTE", "done", 1, 1, 90), ("VOTE", "new", 1, 0, None)]
