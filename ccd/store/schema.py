"""The database schema as SQLAlchemy Core metadata; alembic migrations are written from it.

Invariants live here as constraints, not only in code: one agent per phone endpoint, one
live attempt per lead, one blacklist row per number, dial timeout of at least 15 s.
Runtime queries go through asyncpg with plain SQL; this module only describes the tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = text("now()")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


CAMPAIGN_MODES = ("MANUAL", "POWER", "PREDICTIVE", "INBOUND")
CAMPAIGN_STATUSES = ("draft", "running", "paused", "stopped", "completed")
ABANDON_WINDOWS = ("30d", "24h")  # = ccd.domain.campaigns.AbandonWindow
TRUNK_KINDS = ("sip", "city", "tollfree_8800", "mobile")
LEAD_STATUSES = ("new", "in_progress", "retry", "callback", "done", "blacklisted", "exhausted")
DIALABLE_LEAD_STATUSES = ("new", "retry", "callback")
DISPOSITIONS = (
    "END", "CALLBACK", "NO_ANSWER", "BUSY", "VOICEMAIL", "BAD_NUMBER", "FAX",
    "REJECTED", "CONGESTION", "FAILED", "DROPPED",
)  # fmt: skip
OUTCOMES = (
    "ANSWERED", "BUSY", "NO_ANSWER", "CONGESTION", "BAD_NUMBER", "REJECTED", "MACHINE", "FAX",
    "FAILED", "DROPPED", "LOST",
)  # fmt: skip
ATTEMPT_STATES = ("pending", "dialing", "answered", "bridged", "ended")
BLACKLIST_REASONS = ("bad_number", "fax", "dnc", "manual")
AGENT_STATES = ("LOGGED_OUT", "READY", "RESERVED", "TALKING", "WRAP_UP", "PAUSED")
USER_ROLES = ("agent", "supervisor", "admin", "manager")
INBOUND_OUTCOMES = (
    "answered", "abandoned_ivr", "abandoned_queue", "overflowed", "voicemail", "callback",
    "hangup", "failed",
)  # fmt: skip
INBOUND_DISPOSITIONS = ("END", "CALLBACK")
SPY_MODES = ("listen", "whisper", "barge")
RECORDING_STATES = ("recording", "done", "failed", "missing", "pruned")
RECORDING_FORMATS = ("wav", "gsm", "ulaw")
RECORDING_ACCESS = ("play", "download")

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("mode", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="draft"),
    Column("caller_id", Text, nullable=False, server_default=""),
    Column(
        "trunk_id",
        Integer,
        ForeignKey("trunks.id", ondelete="SET NULL"),
        comment="pinned trunk; NULL = choose by route prefix",
    ),
    Column("dial_timeout_s", SmallInteger, nullable=False, server_default="30"),
    Column("max_attempts", SmallInteger, nullable=False, server_default="5"),
    Column("target_abandon", Numeric(5, 4), nullable=False, server_default="0.03"),
    Column("pacer", Text, nullable=False, server_default="erlang"),
    Column("dial_ratio", Numeric(4, 2), nullable=False, server_default="1.5"),
    Column("max_ratio", Numeric(4, 2), nullable=False, server_default="3.0"),
    Column("amd", Boolean, nullable=False, server_default="false"),
    Column("fax_detect", Boolean, nullable=False, server_default="true"),
    Column("calling_hours_start", Time, nullable=False, server_default="09:00"),
    Column("calling_hours_end", Time, nullable=False, server_default="21:00"),
    Column(
        "calling_days",
        ARRAY(SmallInteger),
        nullable=False,
        server_default="{1,2,3,4,5,6,7}",
        comment="ISO weekdays, 1 = Monday",
    ),
    Column(
        "time_zone",
        Text,
        nullable=False,
        server_default="UTC",
        comment="IANA zone for calling hours of leads whose own zone is unknown or ambiguous",
    ),
    Column("retry_rules", JSONB, nullable=False, server_default="{}"),
    # = ccd.domain.campaigns.DEFAULT_SAFE_HARBOR_MEDIA, a stock Asterisk sound (migration 0004)
    Column("safe_harbor_media", Text, nullable=False, server_default="sound:all-reps-busy"),
    Column(
        "abandon_window", Text, nullable=False, server_default="30d",
        comment="span of the abandon rate the pacer holds under target: 30d (US) or 24h (UK)",
    ),  # fmt: skip
    Column("run_started_at", DateTime(timezone=True), comment="last move to running"),
    Column("record_pct", SmallInteger, nullable=False, server_default="0",
           comment="share of talked calls recorded: 0 none .. 100 all"),
    Column("record_format", Text, nullable=False, server_default="wav"),
    Column("record_notice", Text, comment="media played to the customer when connected"),
    Column("recording_retention_days", Integer, nullable=False, server_default="90"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("mode", CAMPAIGN_MODES), name="mode"),
    CheckConstraint(_in("abandon_window", ABANDON_WINDOWS), name="abandon_window"),
    CheckConstraint(_in("status", CAMPAIGN_STATUSES), name="status"),
    CheckConstraint("dial_timeout_s >= 15", name="ring_at_least_15s"),
    CheckConstraint("max_attempts >= 1", name="max_attempts"),
    CheckConstraint("target_abandon >= 0 AND target_abandon <= 1", name="target_abandon"),
    CheckConstraint("record_pct BETWEEN 0 AND 100", name="record_pct"),
    CheckConstraint(_in("record_format", RECORDING_FORMATS), name="record_format"),
    CheckConstraint("recording_retention_days >= 1", name="recording_retention"),
    CheckConstraint("dial_ratio >= 1 AND max_ratio >= 1", name="ratios"),
)

trunks = Table(
    "trunks",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("dial_template", Text, nullable=False, comment="e.g. PJSIP/{number}@city-trunk"),
    Column("max_channels", Integer, nullable=False),
    Column("node", Text, comment="Asterisk node that owns the trunk; NULL = any"),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    CheckConstraint(_in("kind", TRUNK_KINDS), name="kind"),
    CheckConstraint("max_channels > 0", name="max_channels"),
    CheckConstraint("strpos(dial_template, '{number}') > 0", name="template_has_number"),
)

routes = Table(
    "routes",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("prefix", Text, nullable=False, comment="E.164 prefix such as +7495; '+' matches all"),
    Column("trunk_id", Integer, ForeignKey("trunks.id", ondelete="CASCADE"), nullable=False),
    Column("position", SmallInteger, nullable=False, server_default="0"),
    UniqueConstraint("prefix", "trunk_id"),
    CheckConstraint("prefix ~ '^\\+[0-9]*$'", name="prefix"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("phone", Text, nullable=False, comment="E.164"),
    Column("name", Text, nullable=False, server_default=""),
    Column("fields", JSONB, nullable=False, server_default="{}"),
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    Column("time_zone", Text, comment="IANA zone from the number; NULL = unknown"),
    Column("status", Text, nullable=False, server_default="new"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("last_disposition", Text),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column(
        "agent_id",
        Integer,
        ForeignKey("agents.id", ondelete="SET NULL"),
        comment="owner of a CALLBACK / MANUAL contact",
    ),
    Column("source_line", Integer, comment="line in the imported file"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column(
        "contact_id",
        BigInteger,
        ForeignKey("contacts.id", ondelete="SET NULL"),
        comment="the person (migration 0009)",
    ),
    UniqueConstraint("campaign_id", "phone"),
    # Partial: leads loaded before their person has a contact cost the import no index entry.
    Index("ix_leads_contact", "contact_id", postgresql_where=text("contact_id IS NOT NULL")),
    CheckConstraint(_in("status", LEAD_STATUSES), name="status"),
    CheckConstraint("phone ~ '^\\+[1-9][0-9]{3,14}$'", name="e164"),
    # "next due leads of campaign X": an index range scan in the claim's order (priority,
    # due time, id), so the claim sorts nothing (migration 0006).
    Index(
        "ix_leads_due",
        "campaign_id",
        text("priority DESC"),
        "next_attempt_at",
        "id",
        postgresql_where=text(_in("status", DIALABLE_LEAD_STATUSES)),
    ),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True, comment="= the ARI channel id"),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("lead_id", BigInteger, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column("phone", Text, nullable=False),
    Column("node", Text),
    Column("trunk_id", Integer, ForeignKey("trunks.id", ondelete="SET NULL")),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL")),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("originated_at", DateTime(timezone=True)),
    Column("answered_at", DateTime(timezone=True)),
    Column("bridged_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("wrapup_ended_at", DateTime(timezone=True)),
    Column("cause", SmallInteger, comment="Q.850 hangup cause"),
    Column("cause_txt", Text),
    Column("sip_code", SmallInteger),
    Column("dial_status", Text),
    Column("amd_status", Text),
    Column("amd_cause", Text),
    Column("tone", Text),
    Column("outcome", Text),
    Column("disposition", Text),
    Column("disposition_source", Text),
    Column("disposition_at", DateTime(timezone=True)),
    Column("callback_at", DateTime(timezone=True)),
    Column("note", Text),
    CheckConstraint(_in("state", ATTEMPT_STATES), name="state"),
    CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
    CheckConstraint(f"disposition IS NULL OR {_in('disposition', DISPOSITIONS)}", name="dispo"),
    CheckConstraint(
        "disposition_source IS NULL OR disposition_source IN ('auto', 'agent')", name="dispo_src"
    ),
    # Covering (migration 0002): reports read a campaign's date range from the index alone.
    Index(
        "ix_attempts_campaign_created",
        "campaign_id",
        "created_at",
        postgresql_include=[
            "answered_at", "bridged_at", "ended_at", "wrapup_ended_at", "outcome", "disposition"
        ],
    ),
    Index("ix_attempts_created_brin", "created_at", postgresql_using="brin"),
    Index("ix_attempts_lead", "lead_id"),
    Index("ix_attempts_agent_created", "agent_id", "created_at"),
    # One live attempt per lead: a second dial of the same lead fails at insert.
    Index(
        "uq_attempts_live_lead", "lead_id", unique=True, postgresql_where=text("ended_at IS NULL")
    ),
    Index("ix_attempts_live", "node", postgresql_where=text("state <> 'ended'")),
)

blacklist = Table(
    "blacklist",
    metadata,
    Column("phone", Text, primary_key=True, comment="E.164; applies to every campaign"),
    Column("reason", Text, nullable=False),
    Column("source", Text, nullable=False, server_default="manual"),
    Column("note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("reason", BLACKLIST_REASONS), name="reason"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("login", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("endpoint", Text, nullable=False, unique=True, comment="e.g. PJSIP/agent101"),
    Column("token_hash", Text, comment="sha256 of the agent API token"),
    Column("token_expires_at", DateTime(timezone=True), comment="the API token works until"),
    Column("enabled", Boolean, nullable=False, server_default="true"),
    Column("state", Text, nullable=False, server_default="LOGGED_OUT"),
    Column("state_reason", Text),
    Column("state_since", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("idle_since", DateTime(timezone=True), comment="for longest-idle routing"),
    Column("node", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("state", AGENT_STATES), name="state"),
)

campaign_agents = Table(
    "campaign_agents",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("campaign_id", "agent_id"),
)

agent_state_log = Table(
    "agent_state_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("from_state", Text, nullable=False),
    Column("to_state", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("reason", Text),
    Column("attempt_id", UUID(as_uuid=False)),
    Index("ix_agent_state_log_agent_at", "agent_id", "at"),
    Index("ix_agent_state_log_at_brin", "at", postgresql_using="brin"),
)

inbound_routes = Table(
    "inbound_routes",
    metadata,
    Column("did", Text, primary_key=True),
    Column("flow", Text, nullable=False, comment="IVR flow name (file stem)"),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

inbound_calls = Table(
    "inbound_calls",
    metadata,
    Column("id", Text, primary_key=True, comment="the ARI channel id"),
    Column("node", Text),
    Column("did", Text, nullable=False),
    Column("caller", Text, nullable=False, server_default=""),
    Column("flow", Text),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("queue", Text),
    Column("queue_priority", SmallInteger),
    Column("queued_at", DateTime(timezone=True)),
    Column("dequeued_at", DateTime(timezone=True)),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL")),
    Column("answered_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("outcome", Text),
    Column("variables", JSONB, nullable=False, server_default="{}"),
    Column("disposition", Text, comment="what the agent made of the call (migration 0004)"),
    Column("disposition_source", Text),
    Column("disposition_at", DateTime(timezone=True)),
    Column("callback_at", DateTime(timezone=True)),
    Column("note", Text),
    CheckConstraint(f"outcome IS NULL OR {_in('outcome', INBOUND_OUTCOMES)}", name="outcome"),
    CheckConstraint(
        f"disposition IS NULL OR {_in('disposition', INBOUND_DISPOSITIONS)}", name="dispo"
    ),
    CheckConstraint(
        "disposition_source IS NULL OR disposition_source IN ('auto', 'agent')", name="dispo_src"
    ),
    Index("ix_inbound_calls_queue_started", "queue", "started_at"),
    # The agent's latest call (which call a disposition is for), and per-agent reports.
    Index("ix_inbound_calls_agent_answered", "agent_id", "answered_at"),
    Index("ix_inbound_calls_started_brin", "started_at", postgresql_using="brin"),
)

ivr_steps = Table(
    "ivr_steps",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("call_id", Text, ForeignKey("inbound_calls.id", ondelete="CASCADE"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("node", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("input", Text),
    Column("result", Text),
    Index("ix_ivr_steps_call", "call_id"),
)

recordings = Table(
    "recordings",
    metadata,
    Column("name", Text, primary_key=True, comment="Asterisk stored recording name"),
    Column("call_id", Text, comment="the recorded channel: inbound call id or attempt id"),
    Column("kind", Text, nullable=False, comment="voicemail | call"),
    Column("caller", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("attempt_id", UUID(as_uuid=False), ForeignKey("attempts.id", ondelete="SET NULL")),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL")),
    Column("node", Text),
    Column("instance", Text, comment="the ccd process that started it (reconciliation)"),
    Column("format", Text, nullable=False, server_default="wav"),
    Column("state", Text, nullable=False, server_default="done"),
    Column("started_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("duration_s", Numeric(10, 2), comment="audio length of the file (pauses excluded)"),
    Column("size_bytes", BigInteger),
    Column("reconciled", Boolean, nullable=False, server_default="false",
           comment="finished by reconciliation (ccd was not running when it ended)"),
    Column("pruned_at", DateTime(timezone=True), comment="file deleted by retention"),
    Column("note", Text, comment="why it failed, or what prune found"),
    CheckConstraint(_in("state", RECORDING_STATES), name="state"),
    CheckConstraint(_in("format", RECORDING_FORMATS), name="format"),
    Index("ix_recordings_campaign_started", "campaign_id", "started_at"),
    Index("ix_recordings_agent_started", "agent_id", "started_at"),
    Index("ix_recordings_live", "instance", postgresql_where=text("state = 'recording'")),
)

recording_pauses = Table(
    "recording_pauses",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, ForeignKey("recordings.name", ondelete="CASCADE"), nullable=False),
    Column("paused_at", DateTime(timezone=True), nullable=False),
    Column("paused_by", Text, nullable=False, comment="login of who paused"),
    Column("resumed_at", DateTime(timezone=True)),
    Column("resumed_by", Text, comment="login of who resumed; NULL: the call ended paused"),
    Index("ix_recording_pauses_name", "name"),
    # at most one open pause per recording
    Index("uq_recording_pauses_open", "name", unique=True,
          postgresql_where=text("resumed_at IS NULL")),
)

recording_access = Table(
    "recording_access",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("name", Text, ForeignKey("recordings.name", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("login", Text, nullable=False, comment="kept when the user is deleted"),
    Column("action", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("action", RECORDING_ACCESS), name="action"),
    Index("ix_recording_access_name", "name"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("login", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL"), unique=True),
    Column("endpoint", Text, comment="supervisor's phone for listen/whisper/barge"),
    Column("disabled", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("role", USER_ROLES), name="role"),
)

api_sessions = Table(
    "api_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True, comment="sha256 of the opaque bearer token"),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("remote", Text, comment="client address at login"),
    Index("ix_api_sessions_user", "user_id"),
)

spy_sessions = Table(
    "spy_sessions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="SET NULL")),
    Column("call_id", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("ended_at", DateTime(timezone=True)),
    Column("modes", JSONB, nullable=False, server_default="[]", comment="[{mode, at}] switches"),
    CheckConstraint(_in("mode", SPY_MODES), name="mode"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("from_user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("campaign_id", Integer, ForeignKey("campaigns.id", ondelete="SET NULL")),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("delivered_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
    Index("ix_messages_agent_created", "agent_id", "created_at"),
)

# --- contacts and mailings (migration 0009) ---

CHANNELS = ("call", "sms", "email", "fax")
PURPOSES = ("service", "marketing")
CONSENT_STATUSES = ("opt_in", "opt_out", "pending")
CONSENT_METHODS = ("import", "sms_keyword", "unsubscribe_link", "agent", "cli", "confirmation")
GENDERS = ("f", "m", "x")
MAILING_STATUSES = ("draft", "running", "paused", "stopped", "completed")
MESSAGE_STATES = (
    "planned", "sending", "sent", "delivered", "failed", "expired", "unknown", "skipped",
)  # fmt: skip

contacts = Table(
    "contacts",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("phone", Text, unique=True, comment="E.164"),
    Column("email", Text, unique=True, comment="lower-cased"),
    Column("fax", Text, comment="E.164 of a fax machine"),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("birth_date", Date),
    Column("age_group", Text, comment="when the birth date is unknown, e.g. 60+"),
    Column("gender", Text),
    Column("language", Text, comment="ISO 639-1, e.g. uk"),
    Column("social_status", Text),
    Column("time_zone", Text, comment="IANA zone from the number; NULL = unknown"),
    Column("fields", JSONB, nullable=False, server_default="{}"),
    Column("sources", JSONB, nullable=False, server_default="{}", comment="attribute -> source"),
    Column("preferred_channels", ARRAY(Text), nullable=False, server_default="{}"),
    Column("email_bad_at", DateTime(timezone=True), comment="a permanent SMTP failure"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="phone_or_email"),
    CheckConstraint("phone ~ '^\\+[1-9][0-9]{3,14}$'", name="e164"),
    CheckConstraint("fax ~ '^\\+[1-9][0-9]{3,14}$'", name="fax_e164"),
    CheckConstraint("email = lower(email) AND strpos(email, '@') > 1", name="email"),
    CheckConstraint(f"gender IS NULL OR {_in('gender', GENDERS)}", name="gender"),
    CheckConstraint(
        "preferred_channels <@ ARRAY['call', 'sms', 'email', 'fax']", name="preferred_channels"
    ),
)

# Append-only (a trigger refuses UPDATE): the current consent is the newest row per
# contact, channel and purpose (the view contact_consent_now).
consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("contact_id", BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("method", Text, nullable=False),
    Column("proof", JSONB, nullable=False, server_default="{}", comment="the request or message"),
    Column("at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("channel", CHANNELS), name="channel"),
    CheckConstraint(_in("purpose", PURPOSES), name="purpose"),
    CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),
    CheckConstraint(_in("method", CONSENT_METHODS), name="method"),
    Index("ix_consent_events_contact", "contact_id", "channel", "purpose", "id"),
)

segments = Table(
    "segments",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("rules", JSONB, nullable=False, comment="[rule text, ...], all must hold"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
)

mailings = Table(
    "mailings",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("purpose", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="draft"),
    Column("require_opt_in", Boolean, nullable=False, server_default="true"),
    Column("cap_days", SmallInteger, comment="marketing cap; NULL = the global setting"),
    Column("hours_start", Time, nullable=False, server_default="09:00"),
    Column("hours_end", Time, nullable=False, server_default="21:00"),
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("unsubscribe_key", Text, nullable=False, comment="signs its unsubscribe links"),
    Column("confirmation", JSONB, comment="double opt-in: channel -> template; NULL = none"),
    Column("planned_at", DateTime(timezone=True), comment="its messages are written"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint(_in("purpose", PURPOSES), name="purpose"),
    CheckConstraint(_in("status", MAILING_STATUSES), name="status"),
    CheckConstraint("cap_days IS NULL OR cap_days >= 0", name="cap_days"),
)

mailing_variants = Table(
    "mailing_variants",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("mailing_id", Integer, ForeignKey("mailings.id", ondelete="CASCADE"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("segment_id", Integer, ForeignKey("segments.id", ondelete="RESTRICT")),
    Column("channels", ARRAY(Text), nullable=False),
    Column("templates", JSONB, nullable=False, comment="channel -> language -> template"),
    UniqueConstraint("mailing_id", "position"),
    UniqueConstraint("mailing_id", "id"),  # the target of mailing_messages' key
    CheckConstraint(
        "channels <@ ARRAY['sms', 'email', 'fax'] AND cardinality(channels) > 0", name="channels"
    ),
)

mailing_messages = Table(
    "mailing_messages",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("mailing_id", Integer, nullable=False),
    Column("variant_id", Integer, nullable=False),
    Column("contact_id", BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text),
    Column("address", Text),
    Column("subject", Text),
    Column("body", Text),
    Column("kind", Text, nullable=False, server_default="content"),
    Column("state", Text, nullable=False, server_default="planned"),
    Column("reason", Text, comment="why skipped or failed"),
    Column("instance", Text, comment="the ccd process that marked it sending"),
    Column("planned_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("not_before", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("sending_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),
    Column("provider_id", Text, comment="the channel's id of the message"),
    Column("attempts", SmallInteger, nullable=False, server_default="0",
           comment="times the message was handed to its channel"),  # fmt: skip
    Column("pages", Integer, comment="pages a fax transferred"),
    Column("parts", SmallInteger, comment="SMS parts it went out as (billed per part)"),
    # One key for both (a lookup per row written, see migration 0011): the variant is one of
    # the message's own mailing.
    ForeignKeyConstraint(
        ["mailing_id", "variant_id"], ["mailing_variants.mailing_id", "mailing_variants.id"],
        ondelete="CASCADE",
    ),  # fmt: skip
    # Exactly one message (or one left-out row) per person and mailing.
    UniqueConstraint("mailing_id", "contact_id"),
    CheckConstraint(_in("state", MESSAGE_STATES), name="state"),
    CheckConstraint("kind IN ('content', 'confirmation')", name="kind"),
    CheckConstraint(
        f"channel IS NULL OR {_in('channel', ('sms', 'email', 'fax'))}", name="channel"
    ),
    Index(
        "ix_mailing_messages_due",
        "mailing_id",
        "not_before",
        postgresql_where=text("state = 'planned'"),
    ),
    Index("ix_mailing_messages_sending", "instance", postgresql_where=text("state = 'sending'")),
    Index("ix_mailing_messages_contact", "contact_id"),
    # Awaiting a delivery report: read at start to match receipts sent before a restart.
    Index("ix_mailing_messages_sent", "channel", postgresql_where=text("state = 'sent'")),
)

# The frequency cap, held by the database: a marketing message is marked sending only in the
# transaction that moves its contact's row here forward, and only if the last one is older
# than the cap (INSERT ... ON CONFLICT DO UPDATE ... WHERE re-checks under the row lock).
contact_marketing = Table(
    "contact_marketing",
    metadata,
    Column("contact_id", BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"),
           primary_key=True),  # fmt: skip
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("prev_at", DateTime(timezone=True), comment="last_at before message_id claimed it"),
)


smsc_links = Table(
    "smsc_links",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("system_id", Text, nullable=False),
    Column("password", Text, nullable=False, comment="sent in bind_transceiver: kept readable"),
    Column("system_type", Text, nullable=False, server_default=""),
    Column("tps", Integer, comment="submit_sm per second; NULL = no limit"),
    Column("window_size", Integer, nullable=False, server_default="10"),
    Column("prefixes", ARRAY(Text), nullable=False, server_default="{}",
           comment="E.164 prefixes the link serves; empty = any number"),  # fmt: skip
    Column("source_addr", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("port BETWEEN 1 AND 65535", name="port"),
    CheckConstraint("tps IS NULL OR tps > 0", name="tps"),
    CheckConstraint("window_size > 0", name="window_size"),
)


# --- inbound SMS and the managers' inbox (migration 0013) ---

SMS_INBOUND_STATUSES = ("new", "assigned", "done", "auto")
SMS_REPLY_STATES = ("sending", "sent", "delivered", "failed", "expired", "unknown")

sms_keywords = Table(
    "sms_keywords",
    metadata,
    Column("id", Integer, Identity(), primary_key=True),
    Column("code", Text, nullable=False, comment="as the operator typed it"),
    Column("match_key", Text, nullable=False, unique=True,
           comment="the code folded for matching (case, Cyrillic look-alikes)"),  # fmt: skip
    Column("reply", Text, comment="template; NULL = no reply"),
    Column("assign", Text, nullable=False),
    Column("consent", Text, comment="opt_out | opt_in | NULL"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    CheckConstraint("assign IN ('inbox', 'auto')", name="assign"),
    CheckConstraint("consent IS NULL OR consent IN ('opt_out', 'opt_in')", name="consent"),
)

sms_inbound = Table(
    "sms_inbound",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("link", Text, nullable=False, comment="the SMSC link it came over"),
    Column("sender", Text, nullable=False, comment="E.164 when numeric"),
    Column("recipient", Text, nullable=False, comment="our number or short code"),
    Column("contact_id", BigInteger, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("text", Text, nullable=False),
    Column("coding", Text, nullable=False),
    Column("parts", SmallInteger, nullable=False, server_default="1"),
    Column("complete", Boolean, nullable=False, server_default="true",
           comment="false: some parts never came"),  # fmt: skip
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("dedup_key", Text, nullable=False, comment="sha256 of sender, recipient and text"),
    Column("keyword", Text, comment="the code of the rule it matched"),
    Column("status", Text, nullable=False, server_default="new"),
    Column("assigned_user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    Column("assigned_at", DateTime(timezone=True)),
    Column("done_at", DateTime(timezone=True)),
    Column("done_user_id", Integer, ForeignKey("users.id", ondelete="SET NULL")),
    CheckConstraint(_in("status", SMS_INBOUND_STATUSES), name="status"),
    Index("ix_sms_inbound_received", "received_at", "id"),
    Index("ix_sms_inbound_keyword", "keyword", "received_at"),
    Index("ix_sms_inbound_status", "status", "received_at"),
    Index("ix_sms_inbound_dedup", "dedup_key", "received_at"),
    Index("ix_sms_inbound_contact", "contact_id", "received_at"),
)

sms_mo_parts = Table(
    "sms_mo_parts",
    metadata,
    Column("sender", Text, primary_key=True, comment="as the SMSC gave it"),
    Column("recipient", Text, primary_key=True),
    Column("ref", Integer, primary_key=True, comment="the concatenation reference"),
    Column("total", SmallInteger, primary_key=True),
    Column("seq", SmallInteger, primary_key=True),
    Column("data_coding", SmallInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False, comment="the part's user data, no UDH"),
    Column("link", Text, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False,
           comment="when the message's first part came"),  # fmt: skip
    comment="parts of customers' long messages answered to the SMSC and not yet whole",
)

sms_replies = Table(
    "sms_replies",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("inbound_id", BigInteger, ForeignKey("sms_inbound.id", ondelete="CASCADE"),
           nullable=False),  # fmt: skip
    Column("contact_id", BigInteger, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("phone", Text, nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"),
           comment="NULL: sent by a rule"),  # fmt: skip
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="sending"),
    Column("parts", SmallInteger),
    Column("provider_id", Text, comment="the SMSC's message ids"),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=NOW),
    Column("sent_at", DateTime(timezone=True)),
    Column("reported_at", DateTime(timezone=True)),
    CheckConstraint("kind IN ('manual', 'auto')", name="kind"),
    CheckConstraint(_in("state", SMS_REPLY_STATES), name="state"),
    Index("ix_sms_replies_inbound", "inbound_id", "created_at"),
    Index("ix_sms_replies_contact", "contact_id", "created_at"),
)
