"""Migrations up and down on an empty database, and the schema's own invariants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from ccd.store import migrate
from ccd.store.claim import CLAIM_DUE, REPEAT_AFTER_DROP
from ccd.store.db import connect

TABLES = {
    "campaigns", "trunks", "routes", "leads", "attempts", "blacklist", "agents",
    "campaign_agents", "agent_state_log", "inbound_routes", "inbound_calls", "ivr_steps",
    "recordings", "users", "spy_sessions", "messages", "smsc_links", "sms_inbound", "sms_replies",
    "sms_keywords",
}  # fmt: skip


async def _tables(url: str) -> set[str]:
    conn = await connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'alembic_version'"
        )
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_upgrade_then_downgrade_to_base(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    assert TABLES <= await _tables(empty_db_url)
    assert await migrate.is_current(empty_db_url)

    await asyncio.to_thread(migrate.downgrade, empty_db_url, "base")
    assert await _tables(empty_db_url) == set()
    assert await migrate.current_revision(empty_db_url) is None

    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    assert await migrate.is_current(empty_db_url)


async def test_the_claim_reads_due_leads_from_the_index_in_claim_order(pool: asyncpg.Pool) -> None:
    """EXPLAIN of the very statement the runners execute (ccd.store.claim.CLAIM_DUE): its
    pick of due leads is a range scan of ix_leads_due that sorts nothing."""
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode) VALUES ('c', 'POWER') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO leads (campaign_id, phone, priority)"
            " SELECT $1, '+7495' || lpad(g::text, 7, '0'), g % 3 FROM generate_series(1, 20000) g",
            cid,
        )
        await conn.execute("ANALYZE")
        rows = await conn.fetch(
            "EXPLAIN " + CLAIM_DUE, cid, datetime.now(UTC), 50, None, REPEAT_AFTER_DROP
        )
    plan = "\n".join(r[0] for r in rows)
    # The pick is the first CTE; after it come the UPDATE, the INSERT and the final sort of
    # the (at most LIMIT) claimed rows into dialing order.
    pick = plan[plan.index("CTE picked"):plan.index("CTE claimed")]
    assert "Index Scan using ix_leads_due on leads" in pick, plan
    # No sort of the leads (the consent lookup per lead may sort its own few rows).
    assert "Sort Key: l." not in pick and "Incremental Sort" not in pick, plan
    assert "Seq Scan on leads" not in plan, plan


async def test_ring_time_below_15s_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO campaigns (name, mode, dial_timeout_s) VALUES ('x', 'POWER', 10)"
        )


async def test_one_live_attempt_per_lead(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode) VALUES ('c', 'POWER') RETURNING id"
        )
        lid = await conn.fetchval(
            "INSERT INTO leads (campaign_id, phone) VALUES ($1, '+74951234567') RETURNING id", cid
        )
        insert = (
            "INSERT INTO attempts (id, campaign_id, lead_id, phone)"
            " VALUES (gen_random_uuid(), $1, $2, '+74951234567')"
        )
        await conn.execute(insert, cid, lid)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, cid, lid)
        await conn.execute("UPDATE attempts SET ended_at = now(), state = 'ended'")
        await conn.execute(insert, cid, lid)


async def test_migrations_at_head_match_the_schema_module(db_url: str) -> None:
    """schema.py is the description the code reads; the migrations are what databases get.
    alembic's own comparison finds nothing to add, drop or alter between the two."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from ccd.store.db import sqlalchemy_url
    from ccd.store.schema import metadata

    engine = create_async_engine(sqlalchemy_url(db_url))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], diff
