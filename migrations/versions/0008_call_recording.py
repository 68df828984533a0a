"""call recording

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 03:30:00

Agent calls are recorded per campaign (a share of calls, a format, a notice, a retention); a
recording row says where the file is (node, format), how long and big it is, its state, who
paused it when (recording_pauses) and who played or downloaded it (recording_access).
Voicemail rows written before keep state 'done' and format 'wav'.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_FORMATS = "('wav', 'gsm', 'ulaw')"


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("record_pct", sa.SmallInteger(), nullable=False, server_default="0",
                  comment="share of talked calls recorded: 0 none .. 100 all"),
    )  # fmt: skip
    op.add_column(
        "campaigns",
        sa.Column("record_format", sa.Text(), nullable=False, server_default="wav"),
    )
    op.add_column(
        "campaigns",
        sa.Column("record_notice", sa.Text(),
                  comment="media played to the customer when connected"),
    )  # fmt: skip
    op.add_column(
        "campaigns",
        sa.Column("recording_retention_days", sa.Integer(), nullable=False, server_default="90"),
    )
    op.create_check_constraint(
        op.f("ck_campaigns_record_pct"), "campaigns", "record_pct BETWEEN 0 AND 100"
    )
    op.create_check_constraint(
        op.f("ck_campaigns_record_format"), "campaigns", f"record_format IN {_FORMATS}"
    )
    op.create_check_constraint(
        op.f("ck_campaigns_recording_retention"), "campaigns", "recording_retention_days >= 1"
    )

    op.alter_column(
        "recordings", "call_id", comment="the recorded channel: inbound call id or attempt id"
    )
    op.add_column(
        "recordings",
        sa.Column("attempt_id", postgresql.UUID(as_uuid=False),
                  sa.ForeignKey("attempts.id", name=op.f("fk_recordings_attempt_id_attempts"),
                                ondelete="SET NULL")),
    )  # fmt: skip
    op.add_column(
        "recordings",
        sa.Column("campaign_id", sa.Integer(),
                  sa.ForeignKey("campaigns.id", name=op.f("fk_recordings_campaign_id_campaigns"),
                                ondelete="SET NULL")),
    )  # fmt: skip
    op.add_column(
        "recordings",
        sa.Column("agent_id", sa.Integer(),
                  sa.ForeignKey("agents.id", name=op.f("fk_recordings_agent_id_agents"),
                                ondelete="SET NULL")),
    )  # fmt: skip
    op.add_column("recordings", sa.Column("node", sa.Text()))
    op.add_column(
        "recordings",
        sa.Column("instance", sa.Text(),
                  comment="the ccd process that started it (reconciliation)"),
    )  # fmt: skip
    op.add_column(
        "recordings", sa.Column("format", sa.Text(), nullable=False, server_default="wav")
    )
    op.add_column(
        "recordings", sa.Column("state", sa.Text(), nullable=False, server_default="done")
    )
    op.add_column("recordings", sa.Column("started_at", _TZ))
    op.add_column("recordings", sa.Column("ended_at", _TZ))
    op.add_column(
        "recordings",
        sa.Column("duration_s", sa.Numeric(10, 2),
                  comment="audio length of the file (pauses excluded)"),
    )  # fmt: skip
    op.add_column("recordings", sa.Column("size_bytes", sa.BigInteger()))
    op.add_column(
        "recordings",
        sa.Column("reconciled", sa.Boolean(), nullable=False, server_default="false",
                  comment="finished by reconciliation (ccd was not running when it ended)"),
    )  # fmt: skip
    op.add_column(
        "recordings", sa.Column("pruned_at", _TZ, comment="file deleted by retention")
    )
    op.add_column(
        "recordings", sa.Column("note", sa.Text(), comment="why it failed, or what prune found")
    )
    op.execute("UPDATE recordings SET started_at = created_at WHERE started_at IS NULL")
    op.create_check_constraint(
        op.f("ck_recordings_state"),
        "recordings",
        "state IN ('recording', 'done', 'failed', 'missing', 'pruned')",
    )
    op.create_check_constraint(op.f("ck_recordings_format"), "recordings", f"format IN {_FORMATS}")
    op.create_index(
        op.f("ix_recordings_campaign_started"), "recordings", ["campaign_id", "started_at"]
    )
    op.create_index(op.f("ix_recordings_agent_started"), "recordings", ["agent_id", "started_at"])
    op.create_index(
        op.f("ix_recordings_live"), "recordings", ["instance"],
        postgresql_where=sa.text("state = 'recording'"),
    )  # fmt: skip

    op.create_table(
        "recording_pauses",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("paused_at", _TZ, nullable=False),
        sa.Column("paused_by", sa.Text(), nullable=False, comment="login of who paused"),
        sa.Column("resumed_at", _TZ),
        sa.Column("resumed_by", sa.Text(),
                  comment="login of who resumed; NULL: the call ended paused"),
        sa.ForeignKeyConstraint(["name"], ["recordings.name"], ondelete="CASCADE",
                                name=op.f("fk_recording_pauses_name_recordings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_pauses")),
    )  # fmt: skip
    op.create_index(op.f("ix_recording_pauses_name"), "recording_pauses", ["name"])
    op.create_index(
        "uq_recording_pauses_open", "recording_pauses", ["name"], unique=True,
        postgresql_where=sa.text("resumed_at IS NULL"),
    )  # fmt: skip
    op.create_table(
        "recording_access",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer()),
        sa.Column("login", sa.Text(), nullable=False, comment="kept when the user is deleted"),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("at", _TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("action IN ('play', 'download')",
                           name=op.f("ck_recording_access_action")),
        sa.ForeignKeyConstraint(["name"], ["recordings.name"], ondelete="CASCADE",
                                name=op.f("fk_recording_access_name_recordings")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_recording_access_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_access")),
    )  # fmt: skip
    op.create_index(op.f("ix_recording_access_name"), "recording_access", ["name"])


def downgrade() -> None:
    op.drop_table("recording_access")
    op.drop_table("recording_pauses")
    op.drop_index(op.f("ix_recordings_live"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_agent_started"), table_name="recordings")
    op.drop_index(op.f("ix_recordings_campaign_started"), table_name="recordings")
    op.drop_constraint(op.f("ck_recordings_format"), "recordings", type_="check")
    op.drop_constraint(op.f("ck_recordings_state"), "recordings", type_="check")
    for column in (
        "note", "pruned_at", "reconciled", "size_bytes", "duration_s", "ended_at", "started_at",
        "state", "format", "instance", "node", "agent_id", "campaign_id", "attempt_id",
    ):  # fmt: skip
        op.drop_column("recordings", column)
    op.alter_column("recordings", "call_id", comment=None)
    for name in ("recording_retention", "record_format", "record_pct"):
        op.drop_constraint(op.f(f"ck_campaigns_{name}"), "campaigns", type_="check")
    for column in ("recording_retention_days", "record_notice", "record_format", "record_pct"):
        op.drop_column("campaigns", column)
