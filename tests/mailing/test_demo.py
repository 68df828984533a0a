"""`ccd demo --mailing`: the daemon of `ccd run` sends a segmented mailing through the
simulated relay and the SMSC double to its end (receipts in), and the report comes from SQL."""

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
        run_mailing_demo(Settings(), db_url, opts, Console(file=out, width=160)), 90
    )
    text = out.getvalue()
    assert "mailing report: demo-offers" in text and "left out: " in text, text[-2000:]
    assert await pool.fetchval("SELECT status FROM mailings") == "completed"
    rows = await pool.fetch(
        "SELECT channel, state, count(*) AS n, sum(parts) AS parts FROM mailing_messages"
        " WHERE channel IS NOT NULL GROUP BY 1, 2"
    )
    by = {(r["channel"], r["state"]): r for r in rows}
    emails = {s: r["n"] for (c, s), r in by.items() if c == "email"}
    sms = {s: r["n"] for (c, s), r in by.items() if c == "sms"}
    # e-mail: workers and double opt-ins; the relay's 550s mark addresses bad
    assert emails.get("sent", 0) > 10 and emails.get("failed", 0) > 0, emails
    assert set(emails) <= {"sent", "failed", "skipped"}, emails
    assert await pool.fetchval("SELECT count(*) FROM contacts WHERE email_bad_at IS NOT NULL")
    kinds = dict(await pool.fetch(
        "SELECT kind, count(*) FROM mailing_messages WHERE state = 'sent' GROUP BY 1"
    ))  # fmt: skip
    assert kinds.get("confirmation", 0) > 0, kinds  # pending sign-ups got their double opt-in
    assert f"the simulated relay accepted {emails['sent']} e-mails" in text
    # SMS: delivered, a few undeliverable (+38044000001x) and expired (+38044000002x) numbers
    assert sms.get("delivered", 0) > 100, sms
    assert sms.get("failed", 0) > 0 and sms.get("expired", 0) > 0, sms
    assert set(sms) <= {"delivered", "failed", "expired", "skipped"}, sms
    parts = sum(r["parts"] or 0 for (c, _), r in by.items() if c == "sms")
    assert parts > sum(sms.values()) - sms.get("skipped", 0)  # the Ukrainian texts are long
    assert f"the simulated SMSC took {parts} SMS parts" in text
    segments = {r[0] for r in await pool.fetch("SELECT segment FROM mailing_report")}
    assert {"seniors", "workers", "youth"} <= segments
    assert await pool.fetchval("SELECT count(*) FROM smsc_links") == 0  # gone with the double
