"""Fax messages: tries per message (busy / no answer are retried up to a limit) and the pages
a delivered fax carried

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 07:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
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
             AND ce.proof ->> 'message_id' = mm.id::text)) AS opted_out{pages}
FROM mailing_messages mm
JOIN mailings m ON m.id = mm.mailing_id
LEFT JOIN mailing_variants v ON v.id = mm.variant_id
LEFT JOIN segments s ON s.id = v.segment_id
GROUP BY m.name, s.name, mm.channel
"""
# The pages of delivered faxes, a new last column (CREATE OR REPLACE VIEW may add one).
_PAGES = """,
       coalesce(sum(mm.pages) FILTER (WHERE mm.state = 'delivered'), 0) AS fax_pages"""


def upgrade() -> None:
    op.add_column(
        "mailing_messages",
        sa.Column(
            "attempts",
            sa.SmallInteger(),
            server_default="0",
            nullable=False,
            comment="times the message was handed to its channel",
        ),  # fmt: skip
    )
    op.add_column(
        "mailing_messages",
        sa.Column("pages", sa.Integer(), comment="pages a fax transferred"),
    )
    op.execute(_REPORT.format(pages=_PAGES))


def downgrade() -> None:
    op.execute("DROP VIEW mailing_report")  # a column cannot be dropped by replacing it
    op.execute(_REPORT.format(pages=""))
    op.drop_column("mailing_messages", "pages")
    op.drop_column("mailing_messages", "attempts")
