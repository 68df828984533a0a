"""`ccd segment` and `ccd mailing create/preview`: recipients per segment and channel, every
left-out reason, SMS parts, the rendered sample and its fallback; planning writes one row per
person, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ccd.messaging.planner import plan
from ccd.store import mailings as store
from tests.cli.conftest import Invoke
from tests.mailing.conftest import write

VARIANTS = """
variants:
  - segment: seniors
    channels: [email]
    templates:
      email:
        subject: "Your balance"
        text: {default: "Dear {first_name}, you owe {fields.balance}"}
        fallback: "Dear customer, please check your balance"
  - channels: [sms]
    templates:
      sms:
        text: {default: "Hi {first_name}", uk: "Привіт {first_name}, баланс {fields.balance}"}
        fallback: "Hi"
"""

CONTACTS = """phone,email,first_name,birth_date,language,consent_sms,consent_email,balance
+380441000001,,Olena,,uk,yes,,12.50
+380441000002,,Opted,,,no,,
+380441000003,,Silent,,,,,
+380441000004,,Black,,,yes,,
,e@example.com,Mailonly,,,,yes,
+380441000006,,Capped,,,yes,,
+380441000007,g@example.com,Granny,1940-05-05,,,yes,
"""


async def _setup(cli: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    r = await cli("contacts", "import", str(write(tmp_path / "c.csv", CONTACTS)))
    assert "created:     7" in r.output, r.output
    r = await cli("segment", "add", "seniors", "age >= 60")
    assert r.exit_code == 0 and "1 contacts now" in r.output, r.output
    assert (await cli("blacklist", "add", "+380441000004")).exit_code == 0
    await pool.execute(
        "INSERT INTO contact_marketing (contact_id, last_at, message_id)"
        " SELECT id, now() - interval '3 days', 0 FROM contacts WHERE first_name = 'Capped'"
    )
    r = await cli("mailing", "create", "spring", "--purpose", "marketing",
                  "--variants", str(write(tmp_path / "v.yaml", VARIANTS)))  # fmt: skip
    assert r.exit_code == 0, r.output


async def test_preview_counts_reasons_parts_and_samples(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await _setup(cli, pool, tmp_path)
    r = await cli("mailing", "preview", "spring")
    assert r.exit_code == 0, r.output
    out = r.output
    lines = {" ".join(line.replace("│", " ").split()) for line in out.splitlines()}
    assert "seniors email 1 1" in lines  # Granny: the balance is missing, so the fallback
    assert "(everyone else) sms 1 0 1: 1" in lines  # Olena, one SMS part
    for reason in ("opted_out", "no_consent", "blacklisted", "no_address", "capped"):
        assert f"(everyone else) {reason} 1" in lines, (reason, out)
    assert "Dear customer, please check your balance" in out
    assert "Привіт Olena, баланс 12.50" in out
    assert "2 messages would be sent" in out
    assert await pool.fetchval("SELECT count(*) FROM mailing_messages") == 0  # wrote nothing

    # The cap set for the whole mailing to 0 days: nobody is capped.
    await pool.execute("UPDATE mailings SET cap_days = 0")
    r = await cli("mailing", "preview", "spring")
    assert "capped" not in r.output and "3 messages would be sent" in r.output


async def test_plan_writes_each_person_once(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await _setup(cli, pool, tmp_path)
    mid = await pool.fetchval("SELECT id FROM mailings")
    assert await plan(pool, mid, 14) == 7
    assert await plan(pool, mid, 14) == 0  # planned already: nothing more
    rows = await pool.fetch(
        "SELECT c.first_name, m.channel, m.state, m.reason, m.body FROM mailing_messages m"
        " JOIN contacts c ON c.id = m.contact_id ORDER BY c.id"
    )
    got = {r["first_name"]: (r["channel"], r["state"], r["reason"]) for r in rows}
    assert got == {
        "Olena": ("sms", "planned", None), "Opted": (None, "skipped", "opted_out"),
        "Silent": (None, "skipped", "no_consent"), "Black": (None, "skipped", "blacklisted"),
        "Mailonly": (None, "skipped", "no_address"), "Capped": (None, "skipped", "capped"),
        "Granny": ("email", "planned", None),
    }  # fmt: skip


async def test_bad_definitions_are_refused_with_the_field(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    bad = write(tmp_path / "bad.yaml", "variants:\n  - channels: [sms]\n    templates: {}\n")
    r = await cli("mailing", "create", "x", "--variants", str(bad))
    assert r.exit_code == 2 and "templates: none for channel sms" in r.output, r.output
    bad = write(tmp_path / "bad2.yaml", VARIANTS.replace("seniors", "nobody"))
    r = await cli("mailing", "create", "x", "--variants", str(bad))
    assert r.exit_code == 2 and "'nobody': no such segment" in r.output, r.output
    r = await cli("segment", "add", "s", "age >= x")
    assert r.exit_code == 2 and "not a whole number" in r.output
    assert await pool.fetchval("SELECT count(*) FROM mailings") == 0


async def test_report_and_export_of_a_mailing(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await _setup(cli, pool, tmp_path)
    mid = await pool.fetchval("SELECT id FROM mailings")
    await plan(pool, mid, 14)
    sms = await pool.fetchrow("SELECT id, contact_id FROM mailing_messages WHERE channel = 'sms'")
    await pool.execute(
        "UPDATE mailing_messages SET state = 'sent', parts = 2 WHERE id = $1", sms["id"]
    )
    await pool.execute("UPDATE mailing_messages SET state = 'failed' WHERE channel = 'email'")
    await pool.execute(
        "INSERT INTO consent_events (contact_id, channel, purpose, status, method, proof)"
        " VALUES ($1, 'sms', 'marketing', 'opt_out', 'unsubscribe_link', $2)",
        sms["contact_id"], {"message_id": str(sms["id"])},
    )  # fmt: skip
    r = await cli("report", "mailing", "spring", "-f", "csv")
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert lines[0] == (
        "segment,channel,planned,sent,delivered,failed,expired,unknown,left_out,opted_out,"
        "fax_pages,parts,replies"
    )
    assert "seniors,email,1,0,0,1,0,0,0,0,0,0,0" in lines
    assert ",sms,1,1,0,0,0,0,0,1,0,2,0" in lines  # the everyone-else variant has no segment
    assert ",,0,0,0,0,0,0,5,0,0,0,0" in lines  # left out: no channel
    out = tmp_path / "m.csv"
    r = await cli("export", "messages", "spring", "-o", str(out))
    assert r.exit_code == 0 and "7 messages exported" in r.output, r.output
    text = out.read_text()
    assert "Привіт Olena, баланс 12.50" in text and "no_consent" in text
    r = await cli("export", "messages", "nope")
    assert r.exit_code == 2 and "no mailing named 'nope'" in r.output


async def test_plan_streams_in_chunks_and_a_failed_read_writes_nothing(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _setup(cli, pool, tmp_path)
    mid = await pool.fetchval("SELECT id FROM mailings")
    real = store.candidates

    async def breaks_after_three(*args: Any, **kw: Any) -> AsyncIterator[asyncpg.Record]:
        n = 0
        async for row in real(*args, **kw):
            if n == 3:
                raise asyncpg.QueryCanceledError("canceling statement due to user request")
            n += 1
            yield row

    monkeypatch.setattr(store, "candidates", breaks_after_three)
    with pytest.raises(asyncpg.QueryCanceledError):
        await plan(pool, mid, 14, chunk=2)  # two chunks went into the COPY before the error
    assert await pool.fetchval("SELECT count(*) FROM mailing_messages") == 0
    assert await pool.fetchval("SELECT planned_at FROM mailings") is None

    monkeypatch.setattr(store, "candidates", real)
    assert await plan(pool, mid, 14, chunk=2) == 7
