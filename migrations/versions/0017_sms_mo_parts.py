"""sms_mo_parts: parts of customers' long messages, kept until the message is whole

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:50:00

A part that does not complete its message is answered to the SMSC once it is stored here, so
a restart no longer loses it: the parts are read back at start, and deleted in the
transaction that stores their whole message.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_mo_parts",
        sa.Column("sender", sa.Text(), nullable=False, comment="as the SMSC gave it"),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False, comment="the concatenation reference"),
        sa.Column("total", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("data_coding", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False,
                  comment="the part's user data, no UDH"),  # fmt: skip
        sa.Column("link", sa.Text(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False,
                  comment="when the message's first part came"),  # fmt: skip
        sa.PrimaryKeyConstraint("sender", "recipient", "ref", "total", "seq",
                                name=op.f("pk_sms_mo_parts")),  # fmt: skip
        comment="parts of customers' long messages answered to the SMSC and not yet whole",
    )


def downgrade() -> None:
    op.drop_table("sms_mo_parts")
