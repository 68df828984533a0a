"""inbound SMS: customers' messages, replies to them, keyword rules, the manager role

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 07:30:00

sms_inbound holds every message a customer sent (once: dedup_key + received_at find the same
MO delivered over a second link or again after a reconnect), with its contact, the keyword it
matched and where it is in the managers' inbox; sms_replies the answers to them (a manager's
or automatic), written before they are sent; sms_keywords the operator's rules. Views:
inbound per code per day, response times, outcomes; mailing_report gains `replies`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")

# mailing_report as 0013 left it, up to its last column; `replies` is appended after it.
_REPORT_HEAD = """
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
             AND ce.proof ->> 'message_id' = mm.id::text)) AS opted_out,
       coalesce(sum(mm.pages) FILTER (WHERE mm.state = 'delivered'), 0) AS fax_pages,
       count(*) FILTER (WHERE mm.state = 'expired') AS expired,
       coalesce(sum(mm.parts), 0) AS parts
"""
_REPORT_TAIL = """
FROM mailing_messages mm
JOIN mailings m ON m.id = mm.mailing_id
LEFT JOIN mailing_variants v ON v.id = mm.variant_id
LEFT JOIN segments s ON s.id = v.segment_id
GROUP BY m.name, s.name, mm.channel;
"""
# A reply to a mailing: an SMS from the contact within 7 days after the mailing's SMS to them.
_REPLIES = """,
       count(*) FILTER (WHERE mm.channel = 'sms' AND mm.sent_at IS NOT NULL AND EXISTS (
           SELECT 1 FROM sms_inbound i
           WHERE i.contact_id = mm.contact_id AND i.received_at > mm.sent_at
             AND i.received_at <= mm.sent_at + interval '7 days')) AS replies
"""


_VIEWS = (
    """
    CREATE VIEW sms_response_times AS
    SELECT i.id, i.keyword, i.status, i.received_at, r.first_reply_at,
           round(extract(epoch FROM r.first_reply_at - i.received_at), 1) AS response_s
    FROM sms_inbound i
    LEFT JOIN LATERAL (SELECT min(created_at) AS first_reply_at FROM sms_replies
                       WHERE inbound_id = i.id AND state <> 'failed') r ON true
    """,
    """
    CREATE VIEW sms_inbound_daily AS
    SELECT date_trunc('day', received_at)::date AS day, keyword,
           count(*) AS received,
           count(*) FILTER (WHERE status = 'auto') AS auto,
           count(*) FILTER (WHERE status IN ('new', 'assigned')) AS open,
           count(*) FILTER (WHERE status = 'done') AS done,
           count(*) FILTER (WHERE first_reply_at IS NOT NULL) AS replied
    FROM sms_response_times
    GROUP BY 1, 2
    """,
    """
    CREATE VIEW sms_outcomes AS
    SELECT keyword, status, count(*) AS messages,
           count(*) FILTER (WHERE first_reply_at IS NOT NULL) AS replied,
           round(avg(response_s), 1) AS avg_response_s,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY response_s) AS median_response_s
    FROM sms_response_times
    GROUP BY keyword, status
    """,
)


def _tz(name: str, **kw: object) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(
        op.f("ck_users_role"), "users", "role IN ('agent', 'supervisor', 'admin', 'manager')"
    )
    op.create_table(
        "sms_keywords",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("code", sa.Text(), nullable=False, comment="as the operator typed it"),
        sa.Column("match_key", sa.Text(), nullable=False,
                  comment="the code folded for matching (case, Cyrillic look-alikes)"),
        sa.Column("reply", sa.Text(), nullable=True, comment="template; NULL = no reply"),
        sa.Column("assign", sa.Text(), nullable=False),
        sa.Column("consent", sa.Text(), nullable=True, comment="opt_out | opt_in | NULL"),
        _tz("created_at", server_default=_NOW, nullable=False),
        sa.CheckConstraint("assign IN ('inbox', 'auto')", name=op.f("ck_sms_keywords_assign")),
        sa.CheckConstraint("consent IS NULL OR consent IN ('opt_out', 'opt_in')",
                           name=op.f("ck_sms_keywords_consent")),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_keywords")),
        sa.UniqueConstraint("match_key", name=op.f("uq_sms_keywords_match_key")),
    )  # fmt: skip
    op.create_table(
        "sms_inbound",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("link", sa.Text(), nullable=False, comment="the SMSC link it came over"),
        sa.Column("sender", sa.Text(), nullable=False, comment="E.164 when numeric"),
        sa.Column("recipient", sa.Text(), nullable=False, comment="our number or short code"),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("coding", sa.Text(), nullable=False),
        sa.Column("parts", sa.SmallInteger(), server_default="1", nullable=False),
        sa.Column("complete", sa.Boolean(), server_default="true", nullable=False,
                  comment="false: some parts never came"),  # fmt: skip
        _tz("received_at", nullable=False),
        _tz("stored_at", server_default=_NOW, nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False,
                  comment="sha256 of sender, recipient and text"),  # fmt: skip
        sa.Column("keyword", sa.Text(), nullable=True, comment="the code of the rule it matched"),
        sa.Column("status", sa.Text(), server_default="new", nullable=False),
        sa.Column("assigned_user_id", sa.Integer(), nullable=True),
        _tz("assigned_at", nullable=True),
        _tz("done_at", nullable=True),
        sa.Column("done_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('new', 'assigned', 'done', 'auto')",
                           name=op.f("ck_sms_inbound_status")),  # fmt: skip
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL",
                                name=op.f("fk_sms_inbound_contact_id_contacts")),
        sa.ForeignKeyConstraint(["assigned_user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_sms_inbound_assigned_user_id_users")),
        sa.ForeignKeyConstraint(["done_user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_sms_inbound_done_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_inbound")),
    )  # fmt: skip
    op.create_index("ix_sms_inbound_received", "sms_inbound", ["received_at", "id"])
    op.create_index("ix_sms_inbound_keyword", "sms_inbound", ["keyword", "received_at"])
    op.create_index("ix_sms_inbound_status", "sms_inbound", ["status", "received_at"])
    op.create_index("ix_sms_inbound_dedup", "sms_inbound", ["dedup_key", "received_at"])
    op.create_index("ix_sms_inbound_contact", "sms_inbound", ["contact_id", "received_at"])
    op.create_table(
        "sms_replies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("inbound_id", sa.BigInteger(), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True, comment="NULL: sent by a rule"),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="sending", nullable=False),
        sa.Column("parts", sa.SmallInteger(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True, comment="the SMSC's message ids"),
        sa.Column("error", sa.Text(), nullable=True),
        _tz("created_at", server_default=_NOW, nullable=False),
        _tz("sent_at", nullable=True),
        sa.CheckConstraint("kind IN ('manual', 'auto')", name=op.f("ck_sms_replies_kind")),
        sa.CheckConstraint("state IN ('sending', 'sent', 'failed', 'unknown')",
                           name=op.f("ck_sms_replies_state")),  # fmt: skip
        sa.ForeignKeyConstraint(["inbound_id"], ["sms_inbound.id"], ondelete="CASCADE",
                                name=op.f("fk_sms_replies_inbound_id_sms_inbound")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL",
                                name=op.f("fk_sms_replies_contact_id_contacts")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL",
                                name=op.f("fk_sms_replies_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_replies")),
    )  # fmt: skip
    op.create_index("ix_sms_replies_inbound", "sms_replies", ["inbound_id", "created_at"])
    op.create_index("ix_sms_replies_contact", "sms_replies", ["contact_id", "created_at"])
    for view in _VIEWS:
        op.execute(view)
    op.execute("CREATE OR REPLACE VIEW mailing_report AS" + _REPORT_HEAD + _REPLIES + _REPORT_TAIL)


def downgrade() -> None:
    op.execute("DROP VIEW mailing_report")
    op.execute("CREATE VIEW mailing_report AS" + _REPORT_HEAD + _REPORT_TAIL)
    op.execute("DROP VIEW sms_outcomes")
    op.execute("DROP VIEW sms_inbound_daily")
    op.execute("DROP VIEW sms_response_times")
    op.drop_table("sms_replies")
    op.drop_table("sms_inbound")
    op.drop_table("sms_keywords")
    op.execute("DELETE FROM users WHERE role = 'manager'")
    op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.create_check_constraint(
        op.f("ck_users_role"), "users", "role IN ('agent', 'supervisor', 'admin')"
    )
