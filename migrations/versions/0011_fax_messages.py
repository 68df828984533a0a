"""Fax messages: tries per message (busy / no answer are retried up to a limit) and the pages
a delivered fax carried

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


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


def downgrade() -> None:
    op.drop_column("mailing_messages", "pages")
    op.drop_column("mailing_messages", "attempts")
