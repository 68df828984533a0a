"""due-leads index in the full claim order: priority, due time, id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 03:30:00

The claim (ccd.store.claim) picks leads by priority, then due time, then id, so that leads
due at the same moment go out in the order they were loaded. With id as the index's last
key that order is read straight from the index; without it every claim sorts the due leads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_DIALABLE = sa.text("status IN ('new', 'retry', 'callback')")


def _due_index(*keys: str) -> None:
    op.create_index(
        "ix_leads_due", "leads",
        ["campaign_id", sa.literal_column("priority DESC"), *keys],
        postgresql_where=_DIALABLE,
    )  # fmt: skip


def upgrade() -> None:
    op.drop_index("ix_leads_due", table_name="leads", postgresql_where=_DIALABLE)
    _due_index("next_attempt_at", "id")


def downgrade() -> None:
    op.drop_index("ix_leads_due", table_name="leads", postgresql_where=_DIALABLE)
    _due_index("next_attempt_at")
