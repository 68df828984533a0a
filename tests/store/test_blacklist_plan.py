"""Blacklisting a number finds its leads in every campaign through the (campaign, phone)
index: no index on phone alone (it would slow every lead import), and no scan of leads."""

from __future__ import annotations

import asyncpg

from ccd.store.blacklist import _LEADS_OF_NUMBERS


async def test_leads_of_a_number_are_found_by_index(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO campaigns (name, mode)"
            " SELECT 'c' || g, 'POWER' FROM generate_series(1, 5) g"
        )
        await conn.execute(
            "INSERT INTO leads (campaign_id, phone)"
            " SELECT c.id, '+7495' || lpad(g::text, 7, '0')"
            " FROM campaigns c, generate_series(1, 20000) g"
        )
        await conn.execute("ANALYZE")
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                f"EXPLAIN UPDATE leads SET status = 'blacklisted' WHERE {_LEADS_OF_NUMBERS}",
                ["+74950000005", "+74950000077"],
            )
        )
    assert "uq_leads_campaign_id_phone" in plan, plan
    assert "Seq Scan on leads" not in plan, plan
