"""`ccd demo`, the README's main command, on a small list: it dials, agents talk and set
dispositions, every attempt ends with one, and the report comes from SQL."""

from __future__ import annotations

import asyncio
import io

import asyncpg
from rich.console import Console

from ccd.config import Settings
from ccd.sim.demo import DemoOptions, run_demo


async def test_demo_runs_a_campaign_to_its_report(db_url: str, pool: asyncpg.Pool) -> None:
    out = io.StringIO()
    opts = DemoOptions(leads=200, agents=4, max_seconds=6.0)
    await asyncio.wait_for(run_demo(Settings(), db_url, opts, Console(file=out, width=120)), 90)

    text = out.getvalue()
    assert "campaign report" in text and "dispositions" in text, text[-2000:]
    assert await pool.fetchval("SELECT count(*) FROM leads") == 200
    counts = await pool.fetchrow(
        "SELECT count(*) AS attempts,"
        " count(*) FILTER (WHERE disposition IS NULL OR ended_at IS NULL) AS open,"
        " count(*) FILTER (WHERE disposition_source = 'agent') AS by_agents"
        " FROM attempts"
    )
    assert counts["attempts"] > 50, dict(counts)
    assert counts["by_agents"] > 0, dict(counts)  # simulated agents talked and disposed
    # Every attempt ended with a disposition.
    rows = await pool.fetch("SELECT * FROM attempts WHERE disposition IS NULL OR ended_at IS NULL")
    assert not rows, [dict(r) for r in rows]
