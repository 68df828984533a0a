"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:46:35.095176
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('login', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False, comment='e.g. PJSIP/agent101'),
    sa.Column('token_hash', sa.Text(), nullable=True, comment='sha256 of the agent API token'),
    sa.Column('state', sa.Text(), server_default='LOGGED_OUT', nullable=False),
    sa.Column('state_reason', sa.Text(), nullable=True),
    sa.Column('state_since', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('idle_since', sa.DateTime(timezone=True), nullable=True, comment='for longest-idle routing'),
    sa.Column('node', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('LOGGED_OUT', 'READY', 'RESERVED', 'TALKING', 'WRAP_UP', 'PAUSED')", name=op.f('ck_agents_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('endpoint', name=op.f('uq_agents_endpoint')),
    sa.UniqueConstraint('login', name=op.f('uq_agents_login'))
    )
    op.create_table('blacklist',
    sa.Column('phone', sa.Text(), nullable=False, comment='E.164; applies to every campaign'),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), server_default='manual', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("reason IN ('bad_number', 'fax', 'dnc', 'manual')", name=op.f('ck_blacklist_reason')),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_blacklist'))
    )
    op.create_table('recordings',
    sa.Column('name', sa.Text(), nullable=False, comment='Asterisk stored recording name'),
    sa.Column('call_id', sa.Text(), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False, comment='voicemail | call'),
    sa.Column('caller', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_recordings'))
    )
    op.create_table('trunks',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('dial_template', sa.Text(), nullable=False, comment='e.g. PJSIP/{number}@city-trunk'),
    sa.Column('max_channels', sa.Integer(), nullable=False),
    sa.Column('node', sa.Text(), nullable=True, comment='Asterisk node that owns the trunk; NULL = any'),
    sa.Column('enabled', sa.Boolean(), server_default='true', nullable=False),
    sa.CheckConstraint("kind IN ('sip', 'city', 'tollfree_8800', 'mobile')", name=op.f('ck_trunks_kind')),
    sa.CheckConstraint("strpos(dial_template, '{number}') > 0", name=op.f('ck_trunks_template_has_number')),
    sa.CheckConstraint('max_channels > 0', name=op.f('ck_trunks_max_channels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trunks')),
    sa.UniqueConstraint('name', name=op.f('uq_trunks_name'))
    )
    op.create_table('agent_state_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('from_state', sa.Text(), nullable=False),
    sa.Column('to_state', sa.Text(), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempt_id', sa.UUID(as_uuid=False), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_agent_state_log_agent_id_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_state_log'))
    )
    op.create_index('ix_agent_state_log_agent_at', 'agent_state_log', ['agent_id', 'at'], unique=False)
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('mode', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='draft', nullable=False),
    sa.Column('caller_id', sa.Text(), server_default='', nullable=False),
    sa.Column('trunk_id', sa.Integer(), nullable=True, comment='pinned trunk; NULL = choose by route prefix'),
    sa.Column('dial_timeout_s', sa.SmallInteger(), server_default='30', nullable=False),
    sa.Column('max_attempts', sa.SmallInteger(), server_default='5', nullable=False),
    sa.Column('target_abandon', sa.Numeric(precision=5, scale=4), server_default='0.03', nullable=False),
    sa.Column('pacer', sa.Text(), server_default='erlang', nullable=False),
    sa.Column('dial_ratio', sa.Numeric(precision=4, scale=2), server_default='1.5', nullable=False),
    sa.Column('max_ratio', sa.Numeric(precision=4, scale=2), server_default='3.0', nullable=False),
    sa.Column('amd', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('fax_detect', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('calling_hours_start', sa.Time(), server_default='09:00', nullable=False),
    sa.Column('calling_hours_end', sa.Time(), server_default='21:00', nullable=False),
    sa.Column('calling_days', postgresql.ARRAY(sa.SmallInteger()), server_default='{1,2,3,4,5,6,7}', nullable=False, comment='ISO weekdays, 1 = Monday'),
    sa.Column('time_zone', sa.Text(), server_default='UTC', nullable=False, comment='IANA zone for calling hours of leads whose own zone is unknown or ambiguous'),
    sa.Column('retry_rules', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('safe_harbor_media', sa.Text(), server_default='sound:ccd-safe-harbor', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("mode IN ('MANUAL', 'POWER', 'PREDICTIVE', 'INBOUND')", name=op.f('ck_campaigns_mode')),
    sa.CheckConstraint("status IN ('draft', 'running', 'paused', 'stopped', 'completed')", name=op.f('ck_campaigns_status')),
    sa.CheckConstraint('dial_ratio >= 1 AND max_ratio >= 1', name=op.f('ck_campaigns_ratios')),
    sa.CheckConstraint('dial_timeout_s >= 15', name=op.f('ck_campaigns_ring_at_least_15s')),
    sa.CheckConstraint('max_attempts >= 1', name=op.f('ck_campaigns_max_attempts')),
    sa.CheckConstraint('target_abandon >= 0 AND target_abandon <= 1', name=op.f('ck_campaigns_target_abandon')),
    sa.ForeignKeyConstraint(['trunk_id'], ['trunks.id'], name=op.f('fk_campaigns_trunk_id_trunks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('routes',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('prefix', sa.Text(), nullable=False, comment="E.164 prefix such as +7495; '+' matches all"),
    sa.Column('trunk_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), server_default='0', nullable=False),
    sa.CheckConstraint("prefix ~ '^\\+[0-9]*$'", name=op.f('ck_routes_prefix')),
    sa.ForeignKeyConstraint(['trunk_id'], ['trunks.id'], name=op.f('fk_routes_trunk_id_trunks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routes')),
    sa.UniqueConstraint('prefix', 'trunk_id', name=op.f('uq_routes_prefix_trunk_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('login', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), server_default='', nullable=False),
    sa.Column('role', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('endpoint', sa.Text(), nullable=True, comment="supervisor's phone for listen/whisper/barge"),
    sa.Column('disabled', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_users_agent_id_agents'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('agent_id', name=op.f('uq_users_agent_id')),
    sa.UniqueConstraint('login', name=op.f('uq_users_login'))
    )
    op.create_table('campaign_agents',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_campaign_agents_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_agents_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'agent_id', name=op.f('pk_campaign_agents'))
    )
    op.create_table('inbound_calls',
    sa.Column('id', sa.Text(), nullable=False, comment='the ARI channel id'),
    sa.Column('node', sa.Text(), nullable=True),
    sa.Column('did', sa.Text(), nullable=False),
    sa.Column('caller', sa.Text(), server_default='', nullable=False),
    sa.Column('flow', sa.Text(), nullable=True),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('queue', sa.Text(), nullable=True),
    sa.Column('queue_priority', sa.SmallInteger(), nullable=True),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dequeued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('variables', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('answered', 'abandoned_ivr', 'abandoned_queue', 'overflowed', 'voicemail', 'callback', 'hangup', 'failed')", name=op.f('ck_inbound_calls_outcome')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_inbound_calls_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_inbound_calls_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_calls'))
    )
    op.create_index('ix_inbound_calls_queue_started', 'inbound_calls', ['queue', 'started_at'], unique=False)
    op.create_table('inbound_routes',
    sa.Column('did', sa.Text(), nullable=False),
    sa.Column('flow', sa.Text(), nullable=False, comment='IVR flow name (file stem)'),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_inbound_routes_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('did', name=op.f('pk_inbound_routes'))
    )
    op.create_table('leads',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False, comment='E.164'),
    sa.Column('name', sa.Text(), server_default='', nullable=False),
    sa.Column('fields', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('priority', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('time_zone', sa.Text(), nullable=True, comment='IANA zone from the number; NULL = unknown'),
    sa.Column('status', sa.Text(), server_default='new', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
    sa.Column('last_disposition', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True, comment='owner of a CALLBACK / MANUAL contact'),
    sa.Column('source_line', sa.Integer(), nullable=True, comment='line in the imported file'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{3,14}$'", name=op.f('ck_leads_e164')),
    sa.CheckConstraint("status IN ('new', 'in_progress', 'retry', 'callback', 'done', 'blacklisted', 'exhausted')", name=op.f('ck_leads_status')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_leads_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_leads_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads')),
    sa.UniqueConstraint('campaign_id', 'phone', name=op.f('uq_leads_campaign_id_phone'))
    )
    op.create_index('ix_leads_due', 'leads', ['campaign_id', sa.literal_column('priority DESC'), 'next_attempt_at'], unique=False, postgresql_where=sa.text("status IN ('new', 'retry', 'callback')"))
    op.create_table('messages',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('from_user_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_messages_agent_id_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_messages_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_messages_from_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    op.create_index('ix_messages_agent_created', 'messages', ['agent_id', 'created_at'], unique=False)
    op.create_table('api_sessions',
    sa.Column('token_hash', sa.Text(), nullable=False, comment='sha256 of the opaque bearer token'),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remote', sa.Text(), nullable=True, comment='client address at login'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_api_sessions'))
    )
    op.create_index('ix_api_sessions_user', 'api_sessions', ['user_id'], unique=False)
    op.create_table('spy_sessions',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('call_id', sa.Text(), nullable=False),
    sa.Column('mode', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('modes', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False, comment='[{mode, at}] switches'),
    sa.CheckConstraint("mode IN ('listen', 'whisper', 'barge')", name=op.f('ck_spy_sessions_mode')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_spy_sessions_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_spy_sessions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spy_sessions'))
    )
    op.create_table('attempts',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False, comment='= the ARI channel id'),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('phone', sa.Text(), nullable=False),
    sa.Column('node', sa.Text(), nullable=True),
    sa.Column('trunk_id', sa.Integer(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Text(), server_default='pending', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('originated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bridged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wrapup_ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cause', sa.SmallInteger(), nullable=True, comment='Q.850 hangup cause'),
    sa.Column('cause_txt', sa.Text(), nullable=True),
    sa.Column('sip_code', sa.SmallInteger(), nullable=True),
    sa.Column('dial_status', sa.Text(), nullable=True),
    sa.Column('amd_status', sa.Text(), nullable=True),
    sa.Column('amd_cause', sa.Text(), nullable=True),
    sa.Column('tone', sa.Text(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('disposition', sa.Text(), nullable=True),
    sa.Column('disposition_source', sa.Text(), nullable=True),
    sa.Column('disposition_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('callback_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.CheckConstraint("disposition IS NULL OR disposition IN ('END', 'CALLBACK', 'NO_ANSWER', 'BUSY', 'VOICEMAIL', 'BAD_NUMBER', 'FAX', 'REJECTED', 'CONGESTION', 'FAILED', 'DROPPED')", name=op.f('ck_attempts_dispo')),
    sa.CheckConstraint("disposition_source IS NULL OR disposition_source IN ('auto', 'agent')", name=op.f('ck_attempts_dispo_src')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('ANSWERED', 'BUSY', 'NO_ANSWER', 'CONGESTION', 'BAD_NUMBER', 'REJECTED', 'MACHINE', 'FAX', 'FAILED', 'DROPPED', 'LOST')", name=op.f('ck_attempts_outcome')),
    sa.CheckConstraint("state IN ('pending', 'dialing', 'answered', 'bridged', 'ended')", name=op.f('ck_attempts_state')),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_attempts_agent_id_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_attempts_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_attempts_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trunk_id'], ['trunks.id'], name=op.f('fk_attempts_trunk_id_trunks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    op.create_index('ix_attempts_agent_created', 'attempts', ['agent_id', 'created_at'], unique=False)
    op.create_index('ix_attempts_campaign_created', 'attempts', ['campaign_id', 'created_at'], unique=False)
    op.create_index('ix_attempts_lead', 'attempts', ['lead_id'], unique=False)
    op.create_index('ix_attempts_live', 'attempts', ['node'], unique=False, postgresql_where=sa.text("state <> 'ended'"))
    op.create_index('uq_attempts_live_lead', 'attempts', ['lead_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('ivr_steps',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('call_id', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('node', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['inbound_calls.id'], name=op.f('fk_ivr_steps_call_id_inbound_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_steps'))
    )
    op.create_index('ix_ivr_steps_call', 'ivr_steps', ['call_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ivr_steps_call', table_name='ivr_steps')
    op.drop_table('ivr_steps')
    op.drop_index('uq_attempts_live_lead', table_name='attempts', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_attempts_live', table_name='attempts', postgresql_where=sa.text("state <> 'ended'"))
    op.drop_index('ix_attempts_lead', table_name='attempts')
    op.drop_index('ix_attempts_campaign_created', table_name='attempts')
    op.drop_index('ix_attempts_agent_created', table_name='attempts')
    op.drop_table('attempts')
    op.drop_table('spy_sessions')
    op.drop_index('ix_api_sessions_user', table_name='api_sessions')
    op.drop_table('api_sessions')
    op.drop_index('ix_messages_agent_created', table_name='messages')
    op.drop_table('messages')
    op.drop_index('ix_leads_due', table_name='leads', postgresql_where=sa.text("status IN ('new', 'retry', 'callback')"))
    op.drop_table('leads')
    op.drop_table('inbound_routes')
    op.drop_index('ix_inbound_calls_queue_started', table_name='inbound_calls')
    op.drop_table('inbound_calls')
    op.drop_table('campaign_agents')
    op.drop_table('users')
    op.drop_table('routes')
    op.drop_table('campaigns')
    op.drop_index('ix_agent_state_log_agent_at', table_name='agent_state_log')
    op.drop_table('agent_state_log')
    op.drop_table('trunks')
    op.drop_table('recordings')
    op.drop_table('blacklist')
    op.drop_table('agents')
