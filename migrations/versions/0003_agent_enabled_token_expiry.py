"""agents can be disabled; agent API tokens expire

Revision ID: 0003a
Revises: 0002
Create Date: 2026-12-02 23:10:00

Tokens issued before this revision get 90 days from now, the default lifetime of new ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003a"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "agents",
        sa.Column(
            "token_expires_at", sa.DateTime(timezone=True), nullable=True,
            comment="the API token works until",
        ),
    )  # fmt: skip
    op.add_column(
        "agents", sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False)
    )
    op.execute(
        "UPDATE agents SET token_expires_at = now() + interval '90 days'"
        " WHERE token_hash IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("agents", "enabled")
    op.drop_column("agents", "token_expires_at")
