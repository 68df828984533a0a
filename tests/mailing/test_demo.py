"""`ccd demo --mailing`: the daemon of `ccd run` sends a segmented mailing through the
simulated relay to its end, and the report comes from SQL."""

from __future__ import annotations

import asyncio
import io

import asyncpg
from rich.console import Console

from ccd.config import Settings
from ccd.sim.mailing_demo import MailingDemoOptions, run_mailing_demo


async def test_mailing_demo_runs_to_its_report(db_url: str, pool: asyncpg.Pool) -> None:
    out = io.StringIO()
    opts = MailingDemoOptions(contacts=300, max_seconds=40)
    await asyncio.wait_for(
        run_mailing_demo(Settings(), db_url, opts, Console(file=out, width=140)), 90
    )
    text = out.getvalue()
    assert "mailing report: demo-offers" in text and "left out: " in text, text[-2000:]
    assert await pool.fetchval("SELECT status FROM mailings") == "completed"
    states = dict(await pool.fetch("SELECT state, count(*) FROM mailing_messages GROUP BY 1"))
    assert states.get("sent", 0) > 100, states
    assert states.get("failed", 0) > 0, states  # the relay's 550s: addresses marked bad
    assert set(states) <= {"sent", "failed", "skipped"}, states
    assert await pool.fetchval("SELECT count(*) FROM contacts WHERE email_bad_at IS NOT NULL")
    kinds = dict(await pool.fetch(
        "SELECT kind, count(*) FROM mailing_messages WHERE state = 'sent' GROUP BY 1"
    ))  # fmt: skip
    assert kinds.get("confirmation", 0) > 0, kinds  # pending sign-ups got their double opt-in
    assert f"the simulated relay accepted {states['sent']} e-mails" in text
    segments = {r[0] for r in await pool.fetch("SELECT segment FROM mailing_report")}
    assert {"seniors", "workers", "youth"} <= segments
