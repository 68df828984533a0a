# ruff: noqa: E501  (the seed table is aligned by column on purpose)
"""A small hand-made call center whose report figures are worked out by hand in the tests.

Days are UTC days: every connection the tests open sets TimeZone to UTC.
D0 = 2026-01-20, DM = 2026-02-20, D1 = 2026-03-02, D2 = 2026-03-03.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from ccd.store.db import connect

SEED = """
INSERT INTO campaigns (id, name, mode) OVERRIDING SYSTEM VALUE
VALUES (1, 'spring', 'PREDICTIVE'), (2, 'other', 'POWER');
INSERT INTO trunks (id, name, kind, dial_template, max_channels) OVERRIDING SYSTEM VALUE
VALUES (1, 'city', 'city', 'PJSIP/{number}@city', 30),
       (2, 'sip', 'sip', 'PJSIP/{number}@sip', 60);
INSERT INTO agents (id, login, name, endpoint) OVERRIDING SYSTEM VALUE
VALUES (1, 'alice', 'Alice', 'PJSIP/101'), (2, 'bob', 'Bob', 'PJSIP/102'),
       (3, 'carol', 'Carol', 'PJSIP/103');
INSERT INTO campaign_agents VALUES (1, 1), (1, 2);
INSERT INTO blacklist (phone, reason) VALUES ('+74950000007', 'dnc');
INSERT INTO leads (id, campaign_id, phone, status, attempts) OVERRIDING SYSTEM VALUE VALUES
  (1, 1, '+74950000001', 'new', 0), (2, 1, '+74950000002', 'new', 0),
  (3, 1, '+74950000003', 'in_progress', 1), (4, 1, '+74950000004', 'done', 2),
  (5, 1, '+74950000005', 'blacklisted', 1), (6, 1, '+74950000006', 'exhausted', 5),
  (7, 1, '+74950000007', 'retry', 1), (8, 1, '+74950000008', 'callback', 1),
  (9, 2, '+74950000009', 'new', 0);

CREATE TEMP TABLE seed_attempts (
  n int, campaign_id int, trunk_id int, agent_id int, created time, day date,
  answered interval, bridged interval, ended interval, wrapup interval,
  cause smallint, sip_code smallint, outcome text, disposition text);
INSERT INTO seed_attempts VALUES
  -- D1
  (1, 1, 1, 1,    '10:00', '2026-03-02', '11 s', '12 s', '132 s', '162 s', 16, NULL, 'ANSWERED', 'END'),
  (2, 1, 1, 2,    '10:30', '2026-03-02', '15 s', '20 s', '80 s',  '90 s',  16, NULL, 'ANSWERED', 'CALLBACK'),
  (3, 1, 2, NULL, '11:05', '2026-03-02', '10 s', NULL,   '14 s',  NULL,    16, NULL, 'DROPPED', 'DROPPED'),
  (4, 1, 2, NULL, '11:10', '2026-03-02', NULL,   NULL,   '40 s',  NULL,    19, NULL, 'NO_ANSWER', 'NO_ANSWER'),
  (5, 1, 1, NULL, '11:20', '2026-03-02', NULL,   NULL,   '5 s',   NULL,    17, 486,  'BUSY', 'BUSY'),
  (6, 1, 2, NULL, '11:40', '2026-03-02', '9 s',  NULL,   '30 s',  NULL,    16, NULL, 'MACHINE', 'VOICEMAIL'),
  (7, 1, 2, NULL, '12:00', '2026-03-02', NULL,   NULL,   '2 s',   NULL,    34, 503,  'CONGESTION', 'CONGESTION'),
  -- D2
  (8, 1, 1, 1,    '09:00', '2026-03-03', '10 s', '11 s', '311 s', '311 s', 16, NULL, 'ANSWERED', 'END'),
  (9, 1, 1, NULL, '09:10', '2026-03-03', '10 s', NULL,   '13 s',  NULL,    16, NULL, 'DROPPED', 'DROPPED'),
  (10, 1, 1, NULL, '09:20', '2026-03-03', '10 s', NULL,  '13 s',  NULL,    16, NULL, 'DROPPED', 'DROPPED'),
  (11, 1, 1, NULL, '09:30', '2026-03-03', NULL,  NULL,   '30 s',  NULL,    19, NULL, 'NO_ANSWER', 'NO_ANSWER'),
  -- DM (10 days before D1) and D0 (41 days before D1)
  (12, 1, 1, NULL, '15:00', '2026-02-20', '10 s', NULL,  '13 s',  NULL,    16, NULL, 'DROPPED', 'DROPPED'),
  (13, 1, 1, NULL, '15:00', '2026-01-20', '10 s', NULL,  '13 s',  NULL,    16, NULL, 'DROPPED', 'DROPPED'),
  -- the other campaign, D1
  (14, 2, NULL, NULL, '10:00', '2026-03-02', '10 s', NULL, '13 s', NULL,   16, NULL, 'DROPPED', 'DROPPED');
INSERT INTO attempts (id, campaign_id, lead_id, phone, trunk_id, agent_id, state, created_at,
                      originated_at, answered_at, bridged_at, ended_at, wrapup_ended_at,
                      cause, sip_code, outcome, disposition, disposition_source)
SELECT gen_random_uuid(), s.campaign_id, CASE s.campaign_id WHEN 1 THEN 4 ELSE 9 END,
       '+74950000004', s.trunk_id, s.agent_id, 'ended', t, t + interval '1 s',
       t + s.answered, t + s.bridged, t + s.ended, t + s.wrapup, s.cause, s.sip_code,
       s.outcome, s.disposition, 'auto'
FROM seed_attempts s, LATERAL (SELECT (s.day + s.created) AT TIME ZONE 'UTC' AS t) x;

INSERT INTO agent_state_log (agent_id, at, from_state, to_state, event, reason)
SELECT agent_id, at::timestamptz, '?', to_state, 'seed', reason FROM (VALUES
  (1, '2026-03-02 08:00:00+00', 'READY', NULL),
  (1, '2026-03-02 09:00:00+00', 'PAUSED', 'break'),
  (1, '2026-03-02 09:15:00+00', 'READY', NULL),
  (1, '2026-03-02 10:00:00+00', 'RESERVED', NULL),
  (1, '2026-03-02 10:00:12+00', 'TALKING', NULL),
  (1, '2026-03-02 10:02:12+00', 'WRAP_UP', NULL),
  (1, '2026-03-02 10:02:42+00', 'READY', NULL),
  (1, '2026-03-02 12:00:00+00', 'PAUSED', 'lunch'),
  (1, '2026-03-02 13:00:00+00', 'READY', NULL),
  (1, '2026-03-02 17:00:00+00', 'LOGGED_OUT', NULL),
  (2, '2026-03-02 22:00:00+00', 'READY', NULL),
  (2, '2026-03-03 02:00:00+00', 'LOGGED_OUT', NULL),
  (3, '2026-03-03 23:00:00+00', 'READY', NULL)
) v(agent_id, at, to_state, reason);

INSERT INTO inbound_calls (id, did, queue, started_at, queued_at, answered_at, dequeued_at,
                           ended_at, agent_id, outcome)
SELECT id, '+78001000000', queue, s::timestamptz, s::timestamptz + interval '5 s',
       s::timestamptz + interval '5 s' + a, s::timestamptz + interval '5 s' + coalesce(a, q),
       s::timestamptz + interval '300 s', agent, outcome
FROM (VALUES
  ('i1', 'sales', '2026-03-02 14:00:00+00', interval '10 s', NULL::interval, 1, 'answered'),
  ('i2', 'sales', '2026-03-02 14:10:00+00', interval '30 s', NULL, 2, 'answered'),
  ('i3', 'sales', '2026-03-02 14:20:00+00', NULL, interval '45 s', NULL, 'abandoned_queue'),
  ('i4', 'sales', '2026-03-02 14:50:00+00', interval '20 s', NULL, 2, 'answered'),
  ('i5', 'support', '2026-03-02 14:30:00+00', interval '5 s', NULL, 2, 'answered')
) v(id, queue, s, a, q, agent, outcome);
INSERT INTO inbound_calls (id, did, started_at, ended_at, outcome)
VALUES ('i6', '+78001000000', '2026-03-02 14:40:00+00', '2026-03-02 14:41:00+00', 'hangup');
"""


@pytest.fixture
async def seeded_url(db_url: str) -> str:
    conn = await connect(db_url)
    try:
        await conn.execute(SEED)
    finally:
        await conn.close()
    return db_url


@pytest.fixture
async def seeded(seeded_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(seeded_url)
    await conn.execute("SET TIME ZONE 'UTC'")
    try:
        yield conn
    finally:
        await conn.close()
