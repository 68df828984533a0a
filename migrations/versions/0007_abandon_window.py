"""abandon rate over a rolling window per campaign; when the current run started

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 03:20:00

The pacer holds the campaign's abandon rate under target over `abandon_window` (30d: the
US rule, per campaign over 30 days; 24h: the UK rule), not only over the current run.
`run_started_at` marks the last move to running, so `ccd campaign status` can show the run
beside the window. Campaigns running at upgrade count their run from the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column(
            "abandon_window", sa.Text(), server_default="30d", nullable=False,
            comment="span of the abandon rate the pacer holds under target: 30d (US) or 24h (UK)",
        ),
    )  # fmt: skip
    op.add_column(
        "campaigns",
        sa.Column(
            "run_started_at", sa.DateTime(timezone=True), nullable=True,
            comment="last move to running",
        ),
    )  # fmt: skip
    op.create_check_constraint(
        op.f("ck_campaigns_abandon_window"), "campaigns", "abandon_window IN ('30d', '24h')"
    )
    op.execute("UPDATE campaigns SET run_started_at = now() WHERE status = 'running'")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_abandon_window"), "campaigns", type_="check")
    op.drop_column("campaigns", "run_started_at")
    op.drop_column("campaigns", "abandon_window")
