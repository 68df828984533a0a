"""inbound call dispositions

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 23:20:00

An agent's disposition of an inbound call is stored on its inbound_calls row (the same columns
as on attempts); the (agent_id, answered_at) index finds an agent's latest inbound call.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "inbound_calls",
        sa.Column(
            "disposition",
            sa.Text(),
            comment="what the agent made of the call (migration 0004)",
        ),  # fmt: skip
    )
    op.add_column("inbound_calls", sa.Column("disposition_source", sa.Text()))
    op.add_column("inbound_calls", sa.Column("disposition_at", _TZ))
    op.add_column("inbound_calls", sa.Column("callback_at", _TZ))
    op.add_column("inbound_calls", sa.Column("note", sa.Text()))
    op.create_check_constraint(
        op.f("ck_inbound_calls_dispo"),
        "inbound_calls",
        "disposition IS NULL OR disposition IN ('END', 'CALLBACK')",
    )
    op.create_check_constraint(
        op.f("ck_inbound_calls_dispo_src"),
        "inbound_calls",
        "disposition_source IS NULL OR disposition_source IN ('auto', 'agent')",
    )
    op.create_index(
        op.f("ix_inbound_calls_agent_answered"), "inbound_calls", ["agent_id", "answered_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_calls_agent_answered"), table_name="inbound_calls")
    op.drop_constraint(op.f("ck_inbound_calls_dispo_src"), "inbound_calls", type_="check")
    op.drop_constraint(op.f("ck_inbound_calls_dispo"), "inbound_calls", type_="check")
    for column in ("note", "callback_at", "disposition_at", "disposition_source", "disposition"):
        op.drop_column("inbound_calls", column)
