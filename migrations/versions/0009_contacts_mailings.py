"""contacts, consent history, segments, mailings and their messages, the marketing cap

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 03:30:00

One contact per person (E.164 phone and/or e-mail); leads link to it, and the leads that
exist get their contact here (one per distinct phone number). Consent is an append-only
history (a trigger refuses UPDATE); contact_consent_now is its newest row per contact, channel
and purpose. contact_marketing holds each contact's last marketing message: the frequency
cap is decided by a conditional upsert on it, so it holds across mailings and instances.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")
_E164 = "'^\\+[1-9][0-9]{3,14}$'"


def _tz(name: str, **kw: object) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True, comment="E.164"),
        sa.Column("email", sa.Text(), nullable=True, comment="lower-cased"),
        sa.Column("fax", sa.Text(), nullable=True, comment="E.164 of a fax machine"),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column(
            "age_group",
            sa.Text(),
            nullable=True,
            comment="when the birth date is unknown, e.g. 60+",
        ),
        sa.Column("gender", sa.Text(), nullable=True),
        sa.Column("language", sa.Text(), nullable=True, comment="ISO 639-1, e.g. uk"),
        sa.Column("social_status", sa.Text(), nullable=True),
        sa.Column(
            "time_zone",
            sa.Text(),
            nullable=True,
            comment="IANA zone from the number; NULL = unknown",
        ),
        sa.Column("fields", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column(
            "sources",
            postgresql.JSONB(),
            server_default="{}",
            nullable=False,
            comment="attribute -> source",
        ),  # fmt: skip
        sa.Column(
            "preferred_channels", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
        _tz("email_bad_at", nullable=True, comment="a permanent SMTP failure"),
        _tz("created_at", server_default=_NOW, nullable=False),
        _tz("updated_at", server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "phone IS NOT NULL OR email IS NOT NULL", name=op.f("ck_contacts_phone_or_email")
        ),
        sa.CheckConstraint(f"phone ~ {_E164}", name=op.f("ck_contacts_e164")),
        sa.CheckConstraint(f"fax ~ {_E164}", name=op.f("ck_contacts_fax_e164")),
        sa.CheckConstraint(
            "email = lower(email) AND strpos(email, '@') > 1", name=op.f("ck_contacts_email")
        ),
        sa.CheckConstraint(
            "gender IS NULL OR gender IN ('f', 'm', 'x')", name=op.f("ck_contacts_gender")
        ),
        sa.CheckConstraint(
            "preferred_channels <@ ARRAY['call', 'sms', 'email', 'fax']",
            name=op.f("ck_contacts_preferred_channels"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("phone", name=op.f("uq_contacts_phone")),
        sa.UniqueConstraint("email", name=op.f("uq_contacts_email")),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column(
            "proof",
            postgresql.JSONB(),
            server_default="{}",
            nullable=False,
            comment="the request or message",
        ),  # fmt: skip
        _tz("at", server_default=_NOW, nullable=False),
        sa.CheckConstraint(
            "channel IN ('call', 'sms', 'email', 'fax')", name=op.f("ck_consent_events_channel")
        ),
        sa.CheckConstraint(
            "purpose IN ('service', 'marketing')", name=op.f("ck_consent_events_purpose")
        ),
        sa.CheckConstraint(
            "status IN ('opt_in', 'opt_out', 'pending')", name=op.f("ck_consent_events_status")
        ),
        sa.CheckConstraint(
            "method IN ('import', 'sms_keyword', 'unsubscribe_link', 'agent', 'cli',"
            " 'confirmation')",
            name=op.f("ck_consent_events_method"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_consent_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index(
        "ix_consent_events_contact", "consent_events", ["contact_id", "channel", "purpose", "id"]
    )
    op.execute(
        """
        CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'consent_events is append-only: add a new row instead';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events"
        " FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()"
    )
    op.execute(
        """
        CREATE VIEW contact_consent_now AS
            SELECT DISTINCT ON (contact_id, channel, purpose)
                   contact_id, channel, purpose, status, method, at
            FROM consent_events
            ORDER BY contact_id, channel, purpose, id DESC;
        """
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "rules", postgresql.JSONB(), nullable=False, comment="[rule text, ...], all must hold"
        ),
        _tz("created_at", server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "mailings",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("require_opt_in", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "cap_days",
            sa.SmallInteger(),
            nullable=True,
            comment="marketing cap; NULL = the global setting",
        ),  # fmt: skip
        sa.Column("hours_start", sa.Time(), server_default="09:00", nullable=False),
        sa.Column("hours_end", sa.Time(), server_default="21:00", nullable=False),
        sa.Column("time_zone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column(
            "unsubscribe_key", sa.Text(), nullable=False, comment="signs its unsubscribe links"
        ),
        sa.Column(
            "confirmation", postgresql.JSONB(), nullable=True,
            comment="double opt-in: channel -> template; NULL = none",
        ),  # fmt: skip
        _tz("planned_at", nullable=True, comment="its messages are written"),
        _tz("created_at", server_default=_NOW, nullable=False),
        _tz("updated_at", server_default=_NOW, nullable=False),
        sa.CheckConstraint("purpose IN ('service', 'marketing')", name=op.f("ck_mailings_purpose")),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped', 'completed')",
            name=op.f("ck_mailings_status"),
        ),
        sa.CheckConstraint("cap_days IS NULL OR cap_days >= 0", name=op.f("ck_mailings_cap_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailings")),
        sa.UniqueConstraint("name", name=op.f("uq_mailings_name")),
    )
    op.create_table(
        "mailing_variants",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("channels", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "templates",
            postgresql.JSONB(),
            nullable=False,
            comment="channel -> language -> template",
        ),  # fmt: skip
        sa.CheckConstraint(
            "channels <@ ARRAY['sms', 'email', 'fax'] AND cardinality(channels) > 0",
            name=op.f("ck_mailing_variants_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["mailing_id"],
            ["mailings.id"],
            name=op.f("fk_mailing_variants_mailing_id_mailings"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_mailing_variants_segment_id_segments"),
            ondelete="RESTRICT",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_variants")),
        sa.UniqueConstraint(
            "mailing_id", "position", name=op.f("uq_mailing_variants_mailing_id_position")
        ),
    )
    op.create_table(
        "mailing_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mailing_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), server_default="content", nullable=False),
        sa.Column("state", sa.Text(), server_default="planned", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True, comment="why skipped or failed"),
        sa.Column(
            "instance", sa.Text(), nullable=True, comment="the ccd process that marked it sending"
        ),
        _tz("planned_at", server_default=_NOW, nullable=False),
        _tz("not_before", server_default=_NOW, nullable=False),
        _tz("sending_at", nullable=True),
        _tz("sent_at", nullable=True),
        _tz("delivered_at", nullable=True),
        _tz("ended_at", nullable=True),
        sa.Column(
            "provider_id", sa.Text(), nullable=True, comment="the channel's id of the message"
        ),
        sa.CheckConstraint(
            "state IN ('planned', 'sending', 'sent', 'delivered', 'failed', 'expired', 'unknown',"
            " 'skipped')",
            name=op.f("ck_mailing_messages_state"),
        ),
        sa.CheckConstraint(
            "kind IN ('content', 'confirmation')", name=op.f("ck_mailing_messages_kind")
        ),
        sa.CheckConstraint(
            "channel IS NULL OR channel IN ('sms', 'email', 'fax')",
            name=op.f("ck_mailing_messages_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_mailing_messages_contact_id_contacts"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["mailing_id"],
            ["mailings.id"],
            name=op.f("fk_mailing_messages_mailing_id_mailings"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["variant_id"],
            ["mailing_variants.id"],
            name=op.f("fk_mailing_messages_variant_id_mailing_variants"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailing_messages")),
        sa.UniqueConstraint(
            "mailing_id", "contact_id", name=op.f("uq_mailing_messages_mailing_id_contact_id")
        ),
    )
    op.create_index(
        "ix_mailing_messages_due", "mailing_messages", ["mailing_id", "not_before"],
        postgresql_where=sa.text("state = 'planned'"),
    )  # fmt: skip
    op.create_index(
        "ix_mailing_messages_sending", "mailing_messages", ["instance"],
        postgresql_where=sa.text("state = 'sending'"),
    )  # fmt: skip
    op.create_index("ix_mailing_messages_contact", "mailing_messages", ["contact_id"])
    op.create_table(
        "contact_marketing",
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        _tz("last_at", nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        _tz("prev_at", nullable=True, comment="last_at before message_id claimed it"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_marketing_contact_id_contacts"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_marketing")),
    )
    op.add_column(
        "leads",
        sa.Column(
            "contact_id", sa.BigInteger(), nullable=True, comment="the person (migration 0009)"
        ),
    )
    op.create_foreign_key(
        op.f("fk_leads_contact_id_contacts"), "leads", "contacts", ["contact_id"], ["id"],
        ondelete="SET NULL",
    )  # fmt: skip
    op.create_index(
        "ix_leads_contact", "leads", ["contact_id"],
        postgresql_where=sa.text("contact_id IS NOT NULL"),
    )  # fmt: skip
    # Existing leads: one contact per distinct number (the newest lead's name and zone).
    op.execute(
        """
        INSERT INTO contacts (phone, first_name, time_zone, sources)
        SELECT DISTINCT ON (phone) phone, NULLIF(name, ''), time_zone,
               '{"phone": "lead", "first_name": "lead"}'::jsonb
        FROM leads ORDER BY phone, id DESC
        ON CONFLICT (phone) DO NOTHING
        """
    )
    op.execute("UPDATE leads l SET contact_id = c.id FROM contacts c WHERE c.phone = l.phone")
    op.execute(
        """
        CREATE VIEW mailing_report AS
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
                     AND ce.proof ->> 'message_id' = mm.id::text)) AS opted_out
        FROM mailing_messages mm
        JOIN mailings m ON m.id = mm.mailing_id
        LEFT JOIN mailing_variants v ON v.id = mm.variant_id
        LEFT JOIN segments s ON s.id = v.segment_id
        GROUP BY m.name, s.name, mm.channel;
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW mailing_report")
    op.drop_index(
        "ix_leads_contact", table_name="leads", postgresql_where=sa.text("contact_id IS NOT NULL")
    )
    op.drop_constraint(op.f("fk_leads_contact_id_contacts"), "leads", type_="foreignkey")
    op.drop_column("leads", "contact_id")
    op.drop_table("contact_marketing")
    op.drop_table("mailing_messages")
    op.drop_table("mailing_variants")
    op.drop_table("mailings")
    op.drop_table("segments")
    op.execute("DROP VIEW contact_consent_now")
    op.drop_table("consent_events")
    op.execute("DROP FUNCTION consent_events_append_only()")
    op.drop_table("contacts")
