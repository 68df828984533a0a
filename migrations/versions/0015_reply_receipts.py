"""sms_replies: delivery receipts settle replies as delivered, failed or expired

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:20:00

A reply the SMSC took (`sent`) ends as mailing messages do: `delivered`, `failed` (the
receipt's state in `error`) or `expired`, at `reported_at`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_OLD = "state IN ('sending', 'sent', 'failed', 'unknown')"
_NEW = "state IN ('sending', 'sent', 'delivered', 'failed', 'expired', 'unknown')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_sms_replies_state"), "sms_replies", type_="check")
    op.create_check_constraint(op.f("ck_sms_replies_state"), "sms_replies", _NEW)
    op.add_column("sms_replies", sa.Column("reported_at", sa.DateTime(timezone=True),
                                           nullable=True))  # fmt: skip


def downgrade() -> None:
    op.drop_column("sms_replies", "reported_at")
    op.execute("UPDATE sms_replies SET state = 'sent' WHERE state IN ('delivered', 'expired')")
    op.drop_constraint(op.f("ck_sms_replies_state"), "sms_replies", type_="check")
    op.create_check_constraint(op.f("ck_sms_replies_state"), "sms_replies", _OLD)
