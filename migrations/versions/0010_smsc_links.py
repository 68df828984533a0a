"""SMSC links: the SMPP accounts ccd binds to (`ccd smsc add`)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smsc_links",
        sa.Column("id", sa.Integer(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Text(), nullable=False),
        sa.Column("password", sa.Text(), nullable=False,
                  comment="sent in bind_transceiver: kept readable"),  # fmt: skip
        sa.Column("system_type", sa.Text(), server_default="", nullable=False),
        sa.Column("tps", sa.Integer(), comment="submit_sm per second; NULL = no limit"),
        sa.Column("window_size", sa.Integer(), server_default="10", nullable=False),
        sa.Column("prefixes", ARRAY(sa.Text()), server_default="{}", nullable=False,
                  comment="E.164 prefixes the link serves; empty = any number"),  # fmt: skip
        sa.Column("source_addr", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),  # fmt: skip
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_smsc_links_port")),
        sa.CheckConstraint("tps IS NULL OR tps > 0", name=op.f("ck_smsc_links_tps")),
        sa.CheckConstraint("window_size > 0", name=op.f("ck_smsc_links_window_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smsc_links")),
        sa.UniqueConstraint("name", name=op.f("uq_smsc_links_name")),
    )


def downgrade() -> None:
    op.drop_table("smsc_links")
