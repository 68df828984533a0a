"""`ccd contacts import/show/consent` against a real database: upsert by phone or e-mail,
sources, consent history (append-only), rejects and atomicity, leads linked to contacts."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import asyncpg
import pytest

from ccd.store import migrate
from ccd.store.db import connect
from tests.cli.conftest import Invoke
from tests.mailing.conftest import write

HEADER = "phone,email,first_name,birth_date,gender,language,consent_sms,consent_email,balance\n"


async def test_import_creates_updates_and_records_consent(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    f = write(tmp_path / "c.csv", HEADER
              + "+380441234567,olena@example.com,Olena,1950-03-01,f,uk,yes,no,12.50\n"
              + "8 916 123-45-67,,Ivan,,m,ru,,yes,\n"
              + ",petro@EXAMPLE.com,Petro,,m,uk,,,\n")  # fmt: skip
    r = await cli("contacts", "import", str(f), "--region", "RU")
    assert r.exit_code == 0, r.output
    assert "created:     3" in r.output and "consents:    3" in r.output
    c = await pool.fetchrow("SELECT * FROM contacts WHERE phone = '+380441234567'")
    assert (c["email"], c["language"], c["gender"], str(c["birth_date"])) == (
        "olena@example.com", "uk", "f", "1950-03-01",
    )  # fmt: skip
    assert c["fields"] == {"balance": "12.50"}
    assert c["sources"]["first_name"] == "import:c.csv"
    assert await pool.fetchval("SELECT email FROM contacts WHERE first_name = 'Petro'") == (
        "petro@example.com"
    )
    # A second file updates what it gives and keeps the rest; consent is appended, not replaced.
    g = write(
        tmp_path / "d.csv", "email,social_status,consent_email\nolena@example.com,retired,yes\n"
    )
    r = await cli("contacts", "import", str(g), "--source", "crm")
    assert r.exit_code == 0, r.output
    assert "updated:     1" in r.output
    c = await pool.fetchrow("SELECT * FROM contacts WHERE phone = '+380441234567'")
    assert (c["social_status"], c["first_name"]) == ("retired", "Olena")
    assert c["sources"]["social_status"] == "crm"
    history = await pool.fetch(
        "SELECT status, proof FROM consent_events WHERE contact_id = $1 AND channel = 'email'"
        " ORDER BY id", c["id"],
    )  # fmt: skip
    assert [h["status"] for h in history] == ["opt_out", "opt_in"]
    assert history[0]["proof"] == {"file": "c.csv", "line": 2, "column": "consent_email"}
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE consent_events SET status = 'opt_in'")

    r = await cli("contacts", "show", "olena@example.com")
    assert r.exit_code == 0, r.output
    assert "retired" in r.output and "crm" in r.output and "opt_out" in r.output


async def test_bad_rows_go_to_the_rejects_file_and_a_bad_file_writes_nothing(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    f = write(tmp_path / "c.csv", HEADER
              + "+380441234567,,A,,f,,,,\n"
              + "+3804412,,B,,,,,,\n"
              + ",not-an-email,C,,,,,,\n"
              + "+380441234568,,D,31.02.1990,,,,,\n"
              + "+380441234569,,E,,q,,,,\n"
              + "+380441234570,,F,,,,maybe,,\n")  # fmt: skip
    r = await cli("contacts", "import", str(f))
    assert r.exit_code == 0, r.output
    assert "created:     1" in r.output and "rejected:    5" in r.output
    rows = list(csv.reader((tmp_path / "c-rejects.csv").open(encoding="utf-8-sig")))
    reasons = {int(row[0]): row[1] for row in rows[1:]}
    assert reasons[3].startswith("phone:")
    assert reasons[4].startswith("email:")
    assert reasons[5].startswith("birth_date:")
    assert reasons[6].startswith("gender:")
    assert reasons[7].startswith("consent_sms:")

    # An e-mail that belongs to another person than the row's phone: nothing is written.
    await pool.execute("INSERT INTO contacts (email) VALUES ('x@example.com')")
    before = await pool.fetchval("SELECT count(*) FROM contacts")
    g = write(tmp_path / "g.csv", "phone,email\n+380441234599,y@example.com\n"
                                  "+380441234567,x@example.com\n")  # fmt: skip
    r = await cli("contacts", "import", str(g))
    assert r.exit_code == 2
    assert "line 3" in r.output and "x@example.com" in r.output
    assert await pool.fetchval("SELECT count(*) FROM contacts") == before
    r = await cli("contacts", "import", str(tmp_path / "none.csv"))
    assert r.exit_code == 2 and "no such file" in r.output


async def test_leads_and_contacts_are_one_person(
    cli: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    f = write(tmp_path / "c.csv", "phone,email\n+380441234567,olena@example.com\n")
    assert "created:     1" in (await cli("contacts", "import", str(f))).output
    assert (await cli("campaign", "create", "spring")).exit_code == 0
    leads = write(tmp_path / "leads.csv", "phone,name\n+380441234567,Olena K\n+380441234568,Ivan\n")
    assert (await cli("campaign", "load", "spring", str(leads))).exit_code == 0
    # A lead with a contact's number is linked as it is loaded; the other waits for one.
    rows = await pool.fetch(
        "SELECT l.phone, c.email FROM leads l LEFT JOIN contacts c ON c.id = l.contact_id"
        " ORDER BY l.phone"
    )
    assert [(r["phone"], r["email"]) for r in rows] == [
        ("+380441234567", "olena@example.com"), ("+380441234568", None),
    ]  # fmt: skip
    g = write(tmp_path / "d.csv", "phone,first_name\n+380441234568,Ivan\n")
    r = await cli("contacts", "import", str(g))
    assert "created:     1" in r.output and "leads linked: 1" in r.output, r.output
    assert await pool.fetchval("SELECT count(*) FROM leads WHERE contact_id IS NULL") == 0
    # An opt-out by hand covers the person everywhere, with the note as its proof.
    r = await cli("contacts", "consent", "+380441234567", "opt-out", "--channel", "call",
                  "--note", "asked on the phone")  # fmt: skip
    assert r.exit_code == 0, r.output
    proof = await pool.fetchval("SELECT proof FROM consent_events WHERE method = 'cli'")
    assert proof == {"note": "asked on the phone"}
    r = await cli("contacts", "show", "+380441234567")
    assert "opt_out" in r.output and "asked on the phone" in r.output


async def test_migration_links_existing_leads(empty_db_url: str) -> None:
    await asyncio.to_thread(migrate.upgrade, empty_db_url, "0005")
    conn = await connect(empty_db_url)
    try:
        cid = await conn.fetchval(
            "INSERT INTO campaigns (name, mode) VALUES ('a', 'POWER') RETURNING id"
        )
        cid2 = await conn.fetchval(
            "INSERT INTO campaigns (name, mode) VALUES ('b', 'POWER') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO leads (campaign_id, phone, name) VALUES ($1, '+74951000001', 'Old'),"
            " ($2, '+74951000001', 'New'), ($1, '+74951000002', '')", cid, cid2,
        )  # fmt: skip
    finally:
        await conn.close()
    await asyncio.to_thread(migrate.upgrade, empty_db_url)
    conn = await connect(empty_db_url)
    try:
        rows = await conn.fetch(
            "SELECT c.phone, c.first_name, count(l.id) AS leads FROM contacts c"
            " JOIN leads l ON l.contact_id = c.id GROUP BY c.id ORDER BY c.phone"
        )
        assert [tuple(r) for r in rows] == [("+74951000001", "New", 2), ("+74951000002", None, 1)]
        assert await conn.fetchval("SELECT count(*) FROM leads WHERE contact_id IS NULL") == 0
    finally:
        await conn.close()


async def test_xlsx_contacts_file(cli: Invoke, pool: asyncpg.Pool, tmp_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Phone", "E-mail", "First name", "Birth date", "Preferred channels", "Tariff"])
    ws.append(["+380441234567", "A@Example.com", "Olena", "1950-03-01", "email, sms", "gold"])
    ws.append(["+380441234568", "", "Ivan", "", "pigeon", ""])
    wb.save(tmp_path / "c.xlsx")
    r = await cli("contacts", "import", str(tmp_path / "c.xlsx"))
    assert r.exit_code == 0 and "created:     1" in r.output and "rejected:    1" in r.output
    c = await pool.fetchrow("SELECT * FROM contacts")
    assert (c["email"], c["preferred_channels"], c["fields"]) == (
        "a@example.com", ["email", "sms"], {"Tariff": "gold"},
    )  # fmt: skip
    rejects = (tmp_path / "c-rejects.csv").read_text(encoding="utf-8-sig")
    assert "preferred_channels: unknown channel 'pigeon'" in rejects
