"""`ccd campaign` end to end against the real database, NOTIFY included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import time
from pathlib import Path

import asyncpg
import pytest
from typer.testing import Result

from ccd.store.db import CAMPAIGN_CHANNEL, connect

Invoke = Callable[..., Awaitable[Result]]


def flat(text: str) -> str:
    """Output without rich's box drawing and line wrapping."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


async def test_create_with_every_option_then_list(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("trunk", "add", "city", "--kind", "city", "--template", "PJSIP/{number}@city",
                  "--channels", "30")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = await ccd(
        "campaign", "create", "spring", "--mode", "PREDICTIVE", "--caller-id", "+74951234567",
        "--trunk", "city", "--dial-timeout", "25", "--max-attempts", "4",
        "--target-abandon", "2.5", "--ratio", "2", "--max-ratio", "2.5", "--pacer", "ratio",
        "--amd", "--no-fax-detect", "--hours", "10:00-20:30", "--days", "1-5",
        "--time-zone", "Europe/Moscow", "--retry-rule", "NO_ANSWER=retry:30m",
        "--retry-rule", "busy=retry:600", "--retry-rule", "VOICEMAIL=done",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "campaign spring created" in r.stdout
    row = await pool.fetchrow("SELECT c.*, t.name AS trunk FROM campaigns c"
                              " JOIN trunks t ON t.id = c.trunk_id")  # fmt: skip
    assert (row["mode"], row["status"], row["caller_id"], row["trunk"]) == (
        "PREDICTIVE", "draft", "+74951234567", "city")  # fmt: skip
    assert (row["dial_timeout_s"], row["max_attempts"], row["pacer"]) == (25, 4, "ratio")
    assert (float(row["target_abandon"]), float(row["dial_ratio"]), float(row["max_ratio"])) == (
        0.025, 2.0, 2.5)  # fmt: skip
    assert (row["amd"], row["fax_detect"], row["time_zone"]) == (True, False, "Europe/Moscow")
    assert (str(row["calling_hours_start"]), str(row["calling_hours_end"])) == (
        "10:00:00", "20:30:00")  # fmt: skip
    assert row["calling_days"] == [1, 2, 3, 4, 5]
    assert row["retry_rules"] == {"rules": {
        "NO_ANSWER": {"action": "retry", "delay_s": 1800},
        "BUSY": {"action": "retry", "delay_s": 600},
        "VOICEMAIL": {"action": "done", "delay_s": 0},
    }}  # fmt: skip

    r = await ccd("campaign", "list")
    assert r.exit_code == 0
    assert "spring" in r.stdout and "PREDICTIVE" in r.stdout and "draft" in r.stdout


async def test_default_safe_harbor_is_a_stock_sound(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("campaign", "create", "plain")
    assert r.exit_code == 0, r.output
    await pool.execute("INSERT INTO campaigns (name, mode, caller_id) VALUES ('raw', 'POWER', '')")
    media = await pool.fetch("SELECT safe_harbor_media FROM campaigns ORDER BY name")
    # Asterisk core sounds: a stock install has them (the old default existed nowhere).
    assert [m["safe_harbor_media"] for m in media] == ["sound:all-reps-busy"] * 2


async def test_recording_options_are_stored_and_shown(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("campaign", "create", "rec", "--record", "25%", "--record-format", "gsm",
                  "--record-notice", "sound:custom/recorded", "--recording-retention", "30")
    assert r.exit_code == 0, r.output
    row = await pool.fetchrow("SELECT record_pct, record_format, record_notice,"
                              " recording_retention_days FROM campaigns")  # fmt: skip
    assert tuple(row) == (25, "gsm", "sound:custom/recorded", 30)
    r = await ccd("campaign", "status", "rec")
    assert "recording 25% (gsm), notice sound:custom/recorded, kept 30 days" in flat(r.stdout)
    r = await ccd("campaign", "create", "plain")
    assert r.exit_code == 0, r.output
    row = await pool.fetchrow("SELECT record_pct, record_format, recording_retention_days"
                              " FROM campaigns WHERE name = 'plain'")  # fmt: skip
    assert tuple(row) == (0, "wav", 90)


async def test_hours_until_midnight_round_trip(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("campaign", "create", "allday", "--hours", "00:00-24:00")
    assert r.exit_code == 0, r.output
    end = await pool.fetchval("SELECT calling_hours_end FROM campaigns WHERE name = 'allday'")
    assert end == time.max  # end of day, not 23:59: the last minute stays callable
    r = await ccd("campaign", "status", "allday")
    assert r.exit_code == 0, r.output
    assert "hours 00:00-24:00 " in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dial-timeout", "10"], "'--dial-timeout': must be at least 15 seconds"),
        (["--hours", "9-21"], "'--hours': hours must look like 09:00-21:00"),
        (["--days", "0-9"], "'--days'"),
        (["--retry-rule", "NOPE=retry"], "unknown disposition 'NOPE'"),
        (["--retry-rule", "BUSY=later"], "action must be retry, blacklist, callback or done"),
        (["--retry-rule", "NO_ANSWER=retry:99999999999999999999d"], "delay is at most 365d"),
        (["--retry-rule", "NO_ANSWER=retry:366d"], "delay is at most 365d"),
        (["--caller-id", '"Sales\x07" <+74951234567>'], '--caller-id: \'"Sales\\x07" <'),
        (["--caller-id", "+74951234567\r\nX-Evil: 1"], "--caller-id: '+74951234567\\r\\nX-Evil"),
        (["--caller-id", "+7 495 123"], "is not a number (digits, optional leading +)"),
        (["--target-abandon", "150"], "'--target-abandon'"),
        (["--time-zone", "Mars/Base"], "--time-zone: unknown IANA time zone 'Mars/Base'"),
        (["--ratio", "0.5"], "--ratio:"),
        (["--mode", "TURBO"], "'--mode'"),
        (["--pacer", "turbo"], "--pacer: unknown pacer 'turbo'"),
        # What the campaign's pacer would refuse when it starts is refused now.
        (["--max-ratio", "30"], "pacer erlang: max_ratio must be between 1 and 20, got 30"),
        (["--pacer", "vicidial", "--target-abandon", "100"], "pacer vicidial: target_abandon"),
        (["--trunk", "nope"], "trunk: no trunk named 'nope'"),
        (["--record", "most"], "'--record': expected all, none or a percentage 0-100"),
        (["--record", "150%"], "'--record': expected all, none or a percentage 0-100"),
        (["--record-format", "mp3"], "'--record-format'"),
        (["--record-notice", "hello.wav"], "--record-notice: 'hello.wav' is not a media URI"),
        (["--recording-retention", "0"], "'--recording-retention'"),
    ],
)
async def test_create_rejects_bad_options(ccd: Invoke, args: list[str], needle: str) -> None:
    r = await ccd("campaign", "create", "x", *args)
    assert r.exit_code == 2, r.output
    assert needle in flat(r.output)


async def test_duplicate_name_is_bad_input(ccd: Invoke) -> None:
    assert (await ccd("campaign", "create", "a")).exit_code == 0
    r = await ccd("campaign", "create", "a")
    assert r.exit_code == 2
    assert "name: a campaign named 'a' exists already" in r.stderr


async def test_status_changes_are_notified(ccd: Invoke, db_url: str) -> None:
    assert (await ccd("campaign", "create", "c1")).exit_code == 0
    listener = await connect(db_url)
    got: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await listener.add_listener(CAMPAIGN_CHANNEL, lambda *a: got.put_nowait(json.loads(a[3])))
    try:
        cid = await listener.fetchval("SELECT id FROM campaigns WHERE name = 'c1'")
        for command, status in (("start", "running"), ("pause", "paused"), ("start", "running"),
                                ("stop", "stopped")):  # fmt: skip
            r = await ccd("campaign", command, "c1")
            assert r.exit_code == 0, r.output
            note = await asyncio.wait_for(got.get(), 5)
            assert note == {"id": cid, "name": "c1", "status": status}
            assert (
                await listener.fetchval("SELECT status FROM campaigns WHERE id = $1", cid) == status
            )

        # stopped -> paused is not a move the state machine allows: exit 2, nothing announced.
        r = await ccd("campaign", "pause", "c1")
        assert r.exit_code == 2
        assert "cannot move a stopped campaign to paused" in r.stderr
        r = await ccd("campaign", "stop", "c1")  # already stopped: no change, no NOTIFY
        assert r.exit_code == 0 and "already" in r.stdout
        await asyncio.sleep(0.2)
        assert got.empty()
        assert (await ccd("campaign", "start", "nope")).exit_code == 2
    finally:
        await listener.close()


async def test_delete(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "d")).exit_code == 0
    (tmp_path / "l.csv").write_text("phone\n+74951234567\n")
    assert (await ccd("campaign", "load", "d", str(tmp_path / "l.csv"))).exit_code == 0
    assert (await ccd("campaign", "start", "d")).exit_code == 0
    r = await ccd("campaign", "delete", "d", "--yes")
    assert r.exit_code == 2 and "stop it first" in r.stderr
    assert (await ccd("campaign", "stop", "d")).exit_code == 0
    r = await ccd("campaign", "delete", "d", input="n\n")
    assert r.exit_code == 1  # declined
    assert await pool.fetchval("SELECT count(*) FROM campaigns") == 1
    r = await ccd("campaign", "delete", "d", input="y\n")
    assert r.exit_code == 0 and "1 leads" in r.stdout
    assert await pool.fetchval("SELECT count(*) FROM leads") == 0


async def test_load_summary_and_errors(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "l")).exit_code == 0
    await pool.execute("INSERT INTO blacklist (phone, reason) VALUES ('+74951234569', 'dnc')")
    src = tmp_path / "клиенты.csv"
    src.write_bytes(
        "ФИО;Номер абонента;Город\r\nА;8 495 123-45-67;М\r\nБ;+7 495 123 45 67;М\r\nВ;abc;М\r\n"
        "Г;84951234569;М\r\n".encode("cp1251")
    )
    r = await ccd("campaign", "load", "l", str(src))
    assert r.exit_code == 2
    assert "no phone column" in r.stderr and "ФИО, Номер абонента, Город" in r.stderr

    r = await ccd(
        "campaign", "load", "l", str(src), "--map", "phone=номер абонента", "--region", "ru"
    )
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "4 rows in the file, read as cp1251" in out
    assert "loaded:      2 into l" in out
    assert "duplicate:   1" in out
    assert "blacklisted: 1" in out
    assert f"rejected:    1 -> {tmp_path / 'клиенты-rejects.csv'}" in out
    assert await pool.fetchval("SELECT count(*) FROM leads") == 2

    r = await ccd("campaign", "load", "l", str(src), "--map", "email=x")
    assert r.exit_code == 2 and "unknown field 'email'" in r.output
    r = await ccd("campaign", "load", "l", str(src), "--region", "XX")
    assert r.exit_code == 2 and "unknown region 'XX'" in r.output
    r = await ccd("campaign", "load", "nope", str(src))
    assert r.exit_code == 2 and "no campaign named 'nope'" in r.stderr
    (tmp_path / "e.csv").write_bytes(b"")
    r = await ccd("campaign", "load", "l", str(tmp_path / "e.csv"))
    assert r.exit_code == 2 and "empty" in r.stderr


async def test_status_counts(ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "s", "--time-zone", "Europe/Moscow")).exit_code == 0
    cid = await pool.fetchval("SELECT id FROM campaigns")
    (tmp_path / "s.csv").write_text("phone\n" + "".join(f"+7495123456{i}\n" for i in range(5)))
    assert (await ccd("campaign", "load", "s", str(tmp_path / "s.csv"))).exit_code == 0
    await pool.execute("UPDATE leads SET status = 'done' WHERE phone LIKE '%0'")
    lead = await pool.fetchval("SELECT id FROM leads LIMIT 1")
    # 4 attempts today: 3 answered, 1 of them dropped; one from two days ago does not count.
    await pool.execute(
        """
        INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, answered_at,
                              ended_at, outcome)
        SELECT gen_random_uuid(), $1, $2, '+74951234560', 'ended', t, a, t, o
        FROM (VALUES (now(), now(), 'ANSWERED'), (now(), now(), 'ANSWERED'),
                     (now(), now(), 'DROPPED'), (now(), NULL, 'BUSY'),
                     (now() - interval '2 days', now() - interval '2 days', 'DROPPED'))
             AS v(t, a, o)
        """,
        cid, lead,
    )  # fmt: skip
    r = await ccd("campaign", "status", "s")
    assert r.exit_code == 0, r.output
    lines = [" ".join(line.replace("│", " ").split()) for line in r.stdout.splitlines()]
    assert "new 4" in lines and "done 1" in lines and "total 5" in lines
    assert "attempts 4" in lines and "answered 3" in lines and "drops 1" in lines
    assert "abandon % 33.33" in lines
    assert any("zone Europe/Moscow" in line for line in lines)
    assert (await ccd("campaign", "status", "nope")).exit_code == 2


async def _attempts(pool: asyncpg.Pool, cid: int, *rows: tuple[str, str]) -> None:
    """Ended attempts of campaign cid: (age as an SQL interval, outcome) each; answered ones
    with an answer time, ANSWERED ones bridged to an agent."""
    lead = await pool.fetchval("SELECT id FROM leads WHERE campaign_id = $1 LIMIT 1", cid)
    for age, outcome in rows:
        await pool.execute(
            """
            INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at,
                                  answered_at, bridged_at, ended_at, outcome)
            SELECT gen_random_uuid(), $1, $2, '+74951234560', 'ended', t,
                   CASE WHEN $4 IN ('ANSWERED', 'DROPPED', 'MACHINE') THEN t END,
                   CASE WHEN $4 = 'ANSWERED' THEN t END, t, $4
            FROM (SELECT now() - $3::text::interval AS t) v
            """,
            cid, lead, age, outcome,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("window", "expected"),
    # outside 30 d; 2 days old; 3 h old; this run. A machine is no answer.
    [("24h", "last 24h 4 1 25.00"), ("30d", "last 30d 6 2 33.33")],
)
async def test_status_shows_the_run_and_the_abandon_window(
    ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path, window: str, expected: str
) -> None:
    r = await ccd("campaign", "create", "w", "--mode", "PREDICTIVE", "--abandon-window", window)
    assert r.exit_code == 0, r.output
    cid = await pool.fetchval("SELECT id FROM campaigns")
    assert await pool.fetchval("SELECT abandon_window FROM campaigns") == window
    (tmp_path / "w.csv").write_text("phone\n+74951234560\n")
    assert (await ccd("campaign", "load", "w", str(tmp_path / "w.csv"))).exit_code == 0
    r = await ccd("campaign", "status", "w")
    assert "this run - - -" in [" ".join(x.replace("│", " ").split()) for x in r.stdout.split("\n")]
    await _attempts(
        pool, cid, ("40 days", "DROPPED"), ("40 days", "ANSWERED"), ("2 days", "DROPPED"),
        ("2 days", "ANSWERED"), ("3 hours", "ANSWERED"), ("3 hours", "MACHINE"),
    )  # fmt: skip
    assert (await ccd("campaign", "start", "w")).exit_code == 0
    await _attempts(pool, cid, ("0 s", "ANSWERED"), ("0 s", "DROPPED"), ("0 s", "ANSWERED"))
    r = await ccd("campaign", "status", "w")
    assert r.exit_code == 0, r.output
    lines = [" ".join(line.replace("│", " ").split()) for line in r.stdout.splitlines()]
    assert "this run 3 1 33.33" in lines, r.stdout
    assert expected in lines, r.stdout
    assert any(f"over {window}" in line for line in lines)


async def test_abandon_window_must_be_known(ccd: Invoke) -> None:
    r = await ccd("campaign", "create", "w", "--abandon-window", "7d")
    assert r.exit_code == 2
    assert "--abandon-window" in r.output


async def test_no_schema_is_a_clear_failure(ccd_no_schema: Invoke) -> None:
    r = await ccd_no_schema("campaign", "list")
    assert r.exit_code == 1
    assert "run `ccd db upgrade`" in r.stderr
