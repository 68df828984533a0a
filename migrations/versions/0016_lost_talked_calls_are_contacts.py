"""report_campaign_daily: a talked call that ended LOST is a contact

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:40:00

A call an Asterisk restart or crash cut ends LOST but keeps its bridge: a person talked to an
agent. The pacer's abandon window (ccd/store/abandon.py) counts it as answered; the report
did not, so its abandon rate ran higher than the one the pacer held. The function is
restated whole, as frozen at this revision; CREATE OR REPLACE keeps the view on it.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_DISPOSITIONS = (
    "END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX",
    "REJECTED", "CONGESTION", "FAILED", "DROPPED",
)  # fmt: skip
_DROP = "a.outcome = 'DROPPED' OR a.disposition = 'DROPPED'"
_OLD_CONTACT = "a.outcome IN ('ANSWERED', 'DROPPED') OR a.disposition = 'DROPPED'"
_NEW_CONTACT = (
    "a.bridged_at IS NOT NULL OR a.outcome IN ('ANSWERED', 'DROPPED')"
    " OR a.disposition = 'DROPPED'"
)


def _campaign_daily(contact: str) -> str:
    columns = ", ".join(f"disp_{d.lower()} bigint" for d in _DISPOSITIONS)
    select = ", ".join(f"d.disp_{d.lower()}" for d in _DISPOSITIONS)
    counts = ",\n            ".join(
        f"count(*) FILTER (WHERE a.disposition = '{d}') AS disp_{d.lower()}" for d in _DISPOSITIONS
    )
    return f"""
CREATE OR REPLACE FUNCTION report_campaign_daily(
    p_from date DEFAULT '-infinity', p_to date DEFAULT 'infinity')
RETURNS TABLE (
    campaign_id integer, campaign text, day date,
    attempts bigint, answered bigint, contacts bigint, answer_rate numeric,
    drops bigint, abandon_rate numeric, abandon_rate_30d numeric,
    talk_s bigint, avg_talk_s numeric, wrap_s bigint, avg_wrap_s numeric,
    {columns}
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
           {select}
    FROM (
        SELECT a.campaign_id, a.created_at::date AS day,
            count(*) AS attempts,
            count(*) FILTER (WHERE a.answered_at IS NOT NULL) AS answered,
            count(*) FILTER (WHERE {contact}) AS contacts,
            count(*) FILTER (WHERE {_DROP}) AS drops,
            count(*) FILTER (WHERE a.bridged_at IS NOT NULL AND a.ended_at IS NOT NULL) AS talked,
            coalesce(sum(extract(epoch FROM a.ended_at - a.bridged_at)), 0) AS talk_s,
            count(*) FILTER (WHERE a.bridged_at IS NOT NULL AND a.wrapup_ended_at IS NOT NULL)
                AS wrapped,
            coalesce(sum(extract(epoch FROM a.wrapup_ended_at - a.ended_at))
                FILTER (WHERE a.bridged_at IS NOT NULL), 0) AS wrap_s,
            {counts}
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


def upgrade() -> None:
    op.execute(_campaign_daily(_NEW_CONTACT))


def downgrade() -> None:
    op.execute(_campaign_daily(_OLD_CONTACT))
