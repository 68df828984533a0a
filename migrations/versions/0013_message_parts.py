"""mailing_messages.parts: the SMS parts a message went out as; mailing_report counts them

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 07:30:00

Operators pay carriers per SMS part, so the report sums the parts of the messages handed to
an SMSC. Messages `sent` and awaiting their receipt are read at start (an index on them), so
receipts for messages sent before a restart still match. The view also gains `expired` (SMS
with no final receipt within their validity). New view columns go last: CREATE OR REPLACE
VIEW may only append.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_REPORT = """
CREATE OR REPLACE VIEW mailing_report AS
SELECT m.name AS mailing, s.name AS segment, mm.channel,
       count(*) FILTER (WHERE mm.state <> 'skipped') AS planned,
       count(*) FILTER (WHERE mm.state IN ('sent', 'delivered')) AS sent,
       count(*) FILTER (WHERE mm.state = 'delivered') AS delivered,
       count(*) FILTER (WHERE mm.state = 'failed') AS failed,
       count(*) FILTER (WHERE mm.state = 'unknown') AS unknown,
       count(*) FILTER (WHERE mm.state = 'skipped') AS left_out,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM consent_events ce
           WHERE ce.contact_id = mm.contact_id AND ce.status = 'opt_out'
             AND ce.proof ->> 'message_id' = mm.id::text)) AS opted_out,
       coalesce(sum(mm.pages) FILTER (WHERE mm.state = 'delivered'), 0) AS fax_pages{extra}
FROM mailing_messages mm
JOIN mailings m ON m.id = mm.mailing_id
LEFT JOIN mailing_variants v ON v.id = mm.variant_id
LEFT JOIN segments s ON s.id = v.segment_id
GROUP BY m.name, s.name, mm.channel
"""
_EXTRA = """,
       count(*) FILTER (WHERE mm.state = 'expired') AS expired,
       coalesce(sum(mm.parts), 0) AS parts"""


def upgrade() -> None:
    op.add_column(
        "mailing_messages",
        sa.Column("parts", sa.SmallInteger(), nullable=True,
                  comment="SMS parts it went out as (billed per part)"),
    )  # fmt: skip
    op.create_index(
        "ix_mailing_messages_sent", "mailing_messages", ["channel"],
        postgresql_where=sa.text("state = 'sent'"),
    )  # fmt: skip
    op.execute(_REPORT.format(extra=_EXTRA))


def downgrade() -> None:
    op.execute("DROP VIEW mailing_report")
    op.execute(_REPORT.format(extra=""))
    op.drop_index("ix_mailing_messages_sent", table_name="mailing_messages")
    op.drop_column("mailing_messages", "parts")
