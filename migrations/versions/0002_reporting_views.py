"""reporting views

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:00:00

Every report exists twice under one name: a function `report_x(from_day, to_day)` that reads
only the rows of that day range (its bounds become index conditions on the timestamp columns),
and a view `report_x` = the function over all of history, for ad-hoc queries. Filters on the
grouping keys (campaign_id, agent_id, trunk_id, queue) push down into either one.

Days and hours are those of the session's TimeZone (`SET TIME ZONE 'Europe/Moscow'`).
Ratios are fractions (0.031 = 3.1 %); durations are seconds. docs/reporting.md documents the
columns. The SQL is written out here, not generated from ccd.store.schema, so this revision
stays what it was when the schema moves on.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the dispositions at this revision: one count column each.
_DISPOSITIONS = (
    "END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX",
    "REJECTED", "CONGESTION", "FAILED", "DROPPED",
)  # fmt: skip

_RANGE_ARGS = "p_from date DEFAULT '-infinity', p_to date DEFAULT 'infinity'"

# A person answered: a connected call (ANSWERED) or one we dropped for want of an agent.
_CONTACT = "a.outcome IN ('ANSWERED', 'DROPPED') OR a.disposition = 'DROPPED'"
_DROP = "a.outcome = 'DROPPED' OR a.disposition = 'DROPPED'"


def _disp_columns_out() -> str:
    return ", ".join(f"disp_{d.lower()} bigint" for d in _DISPOSITIONS)


def _disp_counts() -> str:
    return ",\n            ".join(
        f"count(*) FILTER (WHERE a.disposition = '{d}') AS disp_{d.lower()}" for d in _DISPOSITIONS
    )


def _disp_select() -> str:
    return ", ".join(f"d.disp_{d.lower()}" for d in _DISPOSITIONS)


CAMPAIGN_DAILY = f"""
CREATE FUNCTION report_campaign_daily({_RANGE_ARGS})
RETURNS TABLE (
    campaign_id integer, campaign text, day date,
    attempts bigint, answered bigint, contacts bigint, answer_rate numeric,
    drops bigint, abandon_rate numeric, abandon_rate_30d numeric,
    talk_s bigint, avg_talk_s numeric, wrap_s bigint, avg_wrap_s numeric,
    {_disp_columns_out()}
)
LANGUAGE sql STABLE AS $$
SELECT * FROM (
    SELECT d.campaign_id, c.name, d.day,
           d.attempts, d.answered, d.contacts,
           round(d.contacts::numeric / nullif(d.attempts, 0), 4),
           d.drops,
           round(d.drops::numeric / nullif(d.contacts, 0), 4),
           round(sum(d.drops) OVER w / nullif(sum(d.contacts) OVER w, 0), 4),
           round(d.talk_s)::bigint, round(d.talk_s / nullif(d.talked, 0), 1),
           round(d.wrap_s)::bigint, round(d.wrap_s / nullif(d.wrapped, 0), 1),
           {_disp_select()}
    FROM (
        SELECT a.campaign_id, a.created_at::date AS day,
            count(*) AS attempts,
            count(*) FILTER (WHERE a.answered_at IS NOT NULL) AS answered,
            count(*) FILTER (WHERE {_CONTACT}) AS contacts,
            count(*) FILTER (WHERE {_DROP}) AS drops,
            count(*) FILTER (WHERE a.bridged_at IS NOT NULL AND a.ended_at IS NOT NULL) AS talked,
            coalesce(sum(extract(epoch FROM a.ended_at - a.bridged_at)), 0) AS talk_s,
            count(*) FILTER (WHERE a.bridged_at IS NOT NULL AND a.wrapup_ended_at IS NOT NULL)
                AS wrapped,
            coalesce(sum(extract(epoch FROM a.wrapup_ended_at - a.ended_at))
                FILTER (WHERE a.bridged_at IS NOT NULL), 0) AS wrap_s,
            {_disp_counts()}
        FROM attempts a
        -- 29 days before the range feed the rolling abandon rate of its first days.
        WHERE a.created_at >= (p_from - 29)::timestamptz
          AND a.created_at < (p_to + 1)::timestamptz
        GROUP BY a.campaign_id, a.created_at::date
    ) d
    JOIN campaigns c ON c.id = d.campaign_id
    WINDOW w AS (PARTITION BY d.campaign_id ORDER BY d.day
                 RANGE BETWEEN '29 days'::interval PRECEDING AND CURRENT ROW)
) r
WHERE r.day >= p_from AND r.day <= p_to
$$
"""

# State intervals from consecutive agent_state_log rows (lead()), cut at day boundaries.
# The row before the range start gives each agent's state when the range begins; the
# newest interval of an agent still logged in runs until now().
AGENT_DAILY = f"""
CREATE FUNCTION report_agent_daily({_RANGE_ARGS})
RETURNS TABLE (
    agent_id integer, login text, name text, day date,
    login_s bigint, ready_s bigint, reserved_s bigint, talk_s bigint, wrap_s bigint,
    pause_s bigint, pause_by_reason jsonb, calls bigint, inbound_calls bigint,
    occupancy numeric
)
LANGUAGE sql STABLE AS $$
WITH changes AS (
    SELECT l.agent_id, l.id, l.at, l.to_state, l.reason
    FROM agent_state_log l
    WHERE l.at >= p_from::timestamptz AND l.at < (p_to + 1)::timestamptz
    UNION ALL
    SELECT p.agent_id, p.id, p.at, p.to_state, p.reason
    FROM agents g
    CROSS JOIN LATERAL (
        SELECT l.agent_id, l.id, l.at, l.to_state, l.reason FROM agent_state_log l
        WHERE l.agent_id = g.id AND l.at < p_from::timestamptz
        ORDER BY l.at DESC, l.id DESC LIMIT 1
    ) p
), intervals AS (
    SELECT c.agent_id, c.to_state AS state, coalesce(c.reason, 'unspecified') AS reason,
           greatest(c.at, p_from::timestamptz) AS s,
           least(coalesce(lead(c.at) OVER (PARTITION BY c.agent_id ORDER BY c.at, c.id), now()),
                 (p_to + 1)::timestamptz) AS e
    FROM changes c
), pieces AS (
    SELECT i.agent_id, i.state, i.reason, b::date AS day,
           extract(epoch FROM least(i.e, b + interval '1 day') - greatest(i.s, b)) AS secs
    FROM intervals i
    CROSS JOIN LATERAL generate_series(date_trunc('day', i.s), i.e, interval '1 day') b
    WHERE i.state <> 'LOGGED_OUT' AND i.e > i.s
), by_state AS (
    SELECT agent_id, day, state, reason, sum(secs) AS secs
    FROM pieces WHERE secs > 0
    GROUP BY agent_id, day, state, reason
), per_day AS (
    SELECT agent_id, day,
           sum(secs) AS login_s,
           coalesce(sum(secs) FILTER (WHERE state = 'READY'), 0) AS ready_s,
           coalesce(sum(secs) FILTER (WHERE state = 'RESERVED'), 0) AS reserved_s,
           coalesce(sum(secs) FILTER (WHERE state = 'TALKING'), 0) AS talk_s,
           coalesce(sum(secs) FILTER (WHERE state = 'WRAP_UP'), 0) AS wrap_s,
           coalesce(sum(secs) FILTER (WHERE state = 'PAUSED'), 0) AS pause_s,
           coalesce(jsonb_object_agg(reason, round(secs)) FILTER (WHERE state = 'PAUSED'),
                    '{{}}'::jsonb) AS pause_by_reason
    FROM by_state
    GROUP BY agent_id, day
), outbound AS (
    SELECT a.agent_id, a.created_at::date AS day, count(*) AS calls
    FROM attempts a
    WHERE a.agent_id IS NOT NULL AND a.bridged_at IS NOT NULL
      AND a.created_at >= p_from::timestamptz AND a.created_at < (p_to + 1)::timestamptz
    GROUP BY 1, 2
), inbound AS (
    SELECT ic.agent_id, ic.started_at::date AS day, count(*) AS calls
    FROM inbound_calls ic
    WHERE ic.agent_id IS NOT NULL AND ic.answered_at IS NOT NULL
      AND ic.started_at >= p_from::timestamptz AND ic.started_at < (p_to + 1)::timestamptz
    GROUP BY 1, 2
)
SELECT d.agent_id, g.login, g.name, d.day,
       round(d.login_s)::bigint, round(d.ready_s)::bigint, round(d.reserved_s)::bigint,
       round(d.talk_s)::bigint, round(d.wrap_s)::bigint, round(d.pause_s)::bigint,
       d.pause_by_reason,
       coalesce(o.calls, 0), coalesce(n.calls, 0),
       round(((d.talk_s + d.wrap_s)
              / nullif(d.ready_s + d.reserved_s + d.talk_s + d.wrap_s, 0))::numeric, 4)
FROM per_day d
JOIN agents g ON g.id = d.agent_id
LEFT JOIN outbound o ON o.agent_id = d.agent_id AND o.day = d.day
LEFT JOIN inbound n ON n.agent_id = d.agent_id AND n.day = d.day
$$
"""

HOURLY_OUTCOMES = f"""
CREATE FUNCTION report_hourly_outcomes({_RANGE_ARGS})
RETURNS TABLE (
    campaign_id integer, campaign text, day date, hour integer, outcome text,
    attempts bigint, share numeric
)
LANGUAGE sql STABLE AS $$
SELECT h.campaign_id, c.name, h.day, h.hour, h.outcome, h.attempts,
       round(h.attempts::numeric
             / sum(h.attempts) OVER (PARTITION BY h.campaign_id, h.day, h.hour), 4)
FROM (
    SELECT a.campaign_id, a.created_at::date AS day,
           extract(hour FROM a.created_at)::integer AS hour,
           coalesce(a.outcome, 'LIVE') AS outcome, count(*) AS attempts
    FROM attempts a
    WHERE a.created_at >= p_from::timestamptz AND a.created_at < (p_to + 1)::timestamptz
    GROUP BY 1, 2, 3, 4
) h
JOIN campaigns c ON c.id = h.campaign_id
$$
"""

LIST_PENETRATION = """
CREATE VIEW report_list_penetration AS
SELECT c.id AS campaign_id, c.name AS campaign,
       count(l.id) AS leads,
       count(l.id) FILTER (WHERE l.status = 'new') AS new,
       count(l.id) FILTER (WHERE l.status = 'in_progress') AS in_progress,
       count(l.id) FILTER (WHERE l.status = 'retry') AS retry,
       count(l.id) FILTER (WHERE l.status = 'callback') AS callback,
       count(l.id) FILTER (WHERE l.status = 'done') AS done,
       count(l.id) FILTER (WHERE l.status = 'blacklisted') AS blacklisted,
       count(l.id) FILTER (WHERE l.status = 'exhausted') AS exhausted,
       count(l.id) FILTER (WHERE l.status IN ('new', 'retry', 'callback')
                             AND b.phone IS NOT NULL) AS dialable_on_blacklist,
       count(l.id) FILTER (WHERE l.attempts > 0) AS dialed,
       round(count(l.id) FILTER (WHERE l.attempts > 0)::numeric
             / nullif(count(l.id), 0), 4) AS penetration,
       round(count(l.id) FILTER (WHERE l.status IN ('done', 'blacklisted', 'exhausted'))::numeric
             / nullif(count(l.id), 0), 4) AS closed_rate
FROM campaigns c
LEFT JOIN leads l ON l.campaign_id = c.id
LEFT JOIN blacklist b ON b.phone = l.phone
GROUP BY c.id, c.name
"""

# Failures: the network or the trunk could not carry the call (not busy, not unanswered).
TRUNK_DAILY = f"""
CREATE FUNCTION report_trunk_daily({_RANGE_ARGS})
RETURNS TABLE (
    trunk_id integer, trunk text, kind text, day date,
    attempts bigint, answered bigint, busy bigint, no_answer bigint, failures bigint,
    asr numeric, failure_rate numeric
)
LANGUAGE sql STABLE AS $$
SELECT t.trunk_id, k.name, k.kind, t.day, t.attempts, t.answered, t.busy, t.no_answer,
       t.failures,
       round(t.answered::numeric / nullif(t.attempts, 0), 4),
       round(t.failures::numeric / nullif(t.attempts, 0), 4)
FROM (
    SELECT a.trunk_id, a.created_at::date AS day, count(*) AS attempts,
           count(*) FILTER (WHERE a.answered_at IS NOT NULL) AS answered,
           count(*) FILTER (WHERE a.outcome = 'BUSY') AS busy,
           count(*) FILTER (WHERE a.outcome = 'NO_ANSWER') AS no_answer,
           count(*) FILTER (WHERE a.outcome IN ('CONGESTION', 'FAILED', 'REJECTED')) AS failures
    FROM attempts a
    WHERE a.trunk_id IS NOT NULL
      AND a.created_at >= p_from::timestamptz AND a.created_at < (p_to + 1)::timestamptz
    GROUP BY 1, 2
) t
JOIN trunks k ON k.id = t.trunk_id
$$
"""

TRUNK_CAUSES = f"""
CREATE FUNCTION report_trunk_causes({_RANGE_ARGS})
RETURNS TABLE (
    trunk_id integer, trunk text, day date, cause smallint, sip_code smallint, outcome text,
    attempts bigint
)
LANGUAGE sql STABLE AS $$
SELECT a.trunk_id, k.name, a.created_at::date, a.cause, a.sip_code, a.outcome, count(*)
FROM attempts a
JOIN trunks k ON k.id = a.trunk_id
WHERE a.ended_at IS NOT NULL
  AND a.created_at >= p_from::timestamptz AND a.created_at < (p_to + 1)::timestamptz
GROUP BY a.trunk_id, k.name, a.created_at::date, a.cause, a.sip_code, a.outcome
$$
"""

# Service level: calls answered within p_sl_s seconds of queueing / calls offered to the queue.
QUEUE_HOURLY = f"""
CREATE FUNCTION report_queue_hourly({_RANGE_ARGS}, p_sl_s integer DEFAULT 20)
RETURNS TABLE (
    queue text, day date, hour integer, hour_start timestamptz,
    offered bigint, answered bigint, abandoned bigint, abandon_rate numeric,
    asa_s numeric, max_wait_s numeric, answered_in_sl bigint, service_level numeric,
    sl_threshold_s integer
)
LANGUAGE sql STABLE AS $$
SELECT q.queue, q.hour_start::date, extract(hour FROM q.hour_start)::integer, q.hour_start,
       q.offered, q.answered, q.abandoned,
       round(q.abandoned::numeric / nullif(q.offered, 0), 4),
       round(q.asa_s::numeric, 1), round(q.max_wait_s::numeric, 1),
       q.answered_in_sl,
       round(q.answered_in_sl::numeric / nullif(q.offered, 0), 4),
       p_sl_s
FROM (
    SELECT ic.queue, date_trunc('hour', ic.started_at) AS hour_start,
           count(*) AS offered,
           count(*) FILTER (WHERE ic.answered_at IS NOT NULL) AS answered,
           count(*) FILTER (WHERE ic.outcome = 'abandoned_queue') AS abandoned,
           avg(extract(epoch FROM ic.answered_at - ic.queued_at)) AS asa_s,
           max(extract(epoch FROM coalesce(ic.answered_at, ic.dequeued_at, ic.ended_at)
                                  - ic.queued_at)) AS max_wait_s,
           count(*) FILTER (WHERE ic.answered_at - ic.queued_at <= make_interval(secs => p_sl_s))
               AS answered_in_sl
    FROM inbound_calls ic
    WHERE ic.queue IS NOT NULL AND ic.queued_at IS NOT NULL
      AND ic.started_at >= p_from::timestamptz AND ic.started_at < (p_to + 1)::timestamptz
    GROUP BY 1, 2
) q
$$
"""

RANGE_REPORTS = (
    "report_campaign_daily",
    "report_agent_daily",
    "report_hourly_outcomes",
    "report_trunk_daily",
    "report_trunk_causes",
    "report_queue_hourly",
)

# The campaign reports read only these columns: with them in the (campaign_id, created_at)
# index, a campaign's day range is an index-only scan (3-4x faster over 10 M attempts, see
# bench/reports.py). Same name and key as revision 0001's index, which it replaces.
COVERING = (
    "CREATE INDEX ix_attempts_campaign_created ON attempts (campaign_id, created_at)"
    " INCLUDE (answered_at, bridged_at, ended_at, wrapup_ended_at, outcome, disposition)"
)
PLAIN = "CREATE INDEX ix_attempts_campaign_created ON attempts (campaign_id, created_at)"

# BRIN: rows arrive in time order, so a few pages per block range index the time columns for
# reports that span every campaign (trunks, hours, agents) at almost no cost to inserts.
INDEXES = (
    "CREATE INDEX ix_attempts_created_brin ON attempts USING brin (created_at)",
    "CREATE INDEX ix_inbound_calls_started_brin ON inbound_calls USING brin (started_at)",
    "CREATE INDEX ix_agent_state_log_at_brin ON agent_state_log USING brin (at)",
)


def upgrade() -> None:
    op.execute("DROP INDEX ix_attempts_campaign_created")
    op.execute(COVERING)
    for sql in INDEXES:
        op.execute(sql)
    for sql in (CAMPAIGN_DAILY, AGENT_DAILY, HOURLY_OUTCOMES, TRUNK_DAILY, TRUNK_CAUSES,
                QUEUE_HOURLY):  # fmt: skip
        op.execute(sql)
    for name in RANGE_REPORTS:
        op.execute(f"CREATE VIEW {name} AS SELECT * FROM {name}()")
    op.execute(LIST_PENETRATION)
    for name in (*RANGE_REPORTS, "report_list_penetration"):
        op.execute(
            f"COMMENT ON VIEW {name} IS 'ccd report; see docs/reporting.md'"
        )


def downgrade() -> None:
    op.execute("DROP VIEW report_list_penetration")
    for name in reversed(RANGE_REPORTS):
        op.execute(f"DROP VIEW {name}")
        op.execute(f"DROP FUNCTION {name}")
    for sql in INDEXES:
        op.execute(f"DROP INDEX {sql.split()[2]}")
    op.execute("DROP INDEX ix_attempts_campaign_created")
    op.execute(PLAIN)
