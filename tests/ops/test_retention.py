"""`ccd db prune`: counts first, deletes only with --yes, only finished history, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ccd.store import retention
from tests.ops.test_report_cli import ccd

SEED = """
INSERT INTO campaigns (id, name, mode) OVERRIDING SYSTEM VALUE VALUES (1, 'c', 'POWER');
INSERT INTO agents (id, login, name, endpoint) OVERRIDING SYSTEM VALUE
VALUES (1, 'a1', 'A1', 'PJSIP/1'), (2, 'a2', 'A2', 'PJSIP/2');
INSERT INTO leads (id, campaign_id, phone) OVERRIDING SYSTEM VALUE
SELECT g, 1, '+749500000' || g FROM generate_series(10, 15) g;
-- ended 300 and 200 days ago (go), still live since 300 days (stays), ended 10 days ago (stays)
INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at, ended_at) VALUES
  (gen_random_uuid(), 1, 10, '+', 'ended', now() - interval '300 d', now() - interval '300 d'),
  (gen_random_uuid(), 1, 11, '+', 'ended', now() - interval '200 d', now() - interval '200 d'),
  (gen_random_uuid(), 1, 12, '+', 'dialing', now() - interval '300 d', NULL),
  (gen_random_uuid(), 1, 13, '+', 'ended', now() - interval '10 d', now() - interval '10 d');
INSERT INTO inbound_calls (id, did, started_at, ended_at) VALUES
  ('old', '100', now() - interval '200 d', now() - interval '200 d'),
  ('new', '100', now() - interval '1 d', now() - interval '1 d');
INSERT INTO ivr_steps (call_id, at, node, kind) VALUES
  ('old', now() - interval '200 d', 'menu', 'dtmf'), ('old', now() - interval '200 d', 'x', 'play'),
  ('new', now() - interval '1 d', 'menu', 'dtmf');
-- agent 1: the change of 200 days ago is the newest before the cutoff: it stays
INSERT INTO agent_state_log (agent_id, at, from_state, to_state, event) VALUES
  (1, now() - interval '300 d', 'LOGGED_OUT', 'READY', 'login'),
  (1, now() - interval '250 d', 'READY', 'PAUSED', 'pause'),
  (1, now() - interval '200 d', 'PAUSED', 'READY', 'ready'),
  (1, now() - interval '10 d', 'READY', 'LOGGED_OUT', 'logout'),
  (2, now() - interval '300 d', 'LOGGED_OUT', 'READY', 'login');
"""

EXPECTED = {"ivr_steps": 2, "inbound_calls": 1, "attempts": 2, "agent_state_log": 2}


async def test_prune_in_batches(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(SEED)
        cutoff = datetime.now(UTC) - timedelta(days=180)
        assert await retention.count_prunable(conn, cutoff) == EXPECTED
        seen: list[tuple[str, int]] = []
        deleted = await retention.prune(
            conn, cutoff, batch=1, progress=lambda t, n: seen.append((t, n))
        )
        assert deleted == EXPECTED
        assert ("attempts", 1) in seen and ("attempts", 2) in seen  # one row per batch
        assert await retention.count_prunable(conn, cutoff) == dict.fromkeys(EXPECTED, 0)
        left = await conn.fetch("SELECT agent_id, event FROM agent_state_log ORDER BY agent_id, at")
        assert [tuple(r) for r in left] == [(1, "ready"), (1, "logout"), (2, "login")]
        assert await conn.fetchval("SELECT count(*) FROM attempts") == 2
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE ended_at IS NULL") == 1
        assert await conn.fetchval("SELECT count(*) FROM ivr_steps") == 1


async def test_prune_cli_counts_then_deletes_with_yes(db_url: str, pool: asyncpg.Pool) -> None:
    await pool.execute(SEED)
    code, out, err = await ccd(db_url, "db", "prune", "--older-than", "180d")
    assert code == 0, err
    assert "dry run" in out
    assert [line.split() for line in out.splitlines() if "attempts" in line] == [["attempts", "2"]]
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 4

    code, out, err = await ccd(db_url, "db", "prune", "--older-than", "26w", "--yes")
    assert code == 0, err
    assert "deleted 7 rows" in out
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 2


@pytest.mark.parametrize("age", ["180", "0d", "6 months", "-5d"])
def test_bad_ages_are_refused(age: str) -> None:
    with pytest.raises(ValueError, match="180d"):
        retention.parse_age(age)
