"""`ccd mailing create` with a fax variant: a bad document path is refused naming the field,
a document missing on this machine is noted (ccd run may read another disk), and preview
shows the document a sample contact gets."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from ccd.messaging.planner import plan
from ccd.store import mailings as store
from tests.cli.conftest import Invoke
from tests.fax.documents import write_tiff


def _variants(path: Path, default: str, fallback: str) -> Path:
    path.write_text(
        "variants:\n  - channels: [fax]\n    templates:\n"
        f"      fax: {{text: {{default: '{default}'}}, fallback: '{fallback}'}}\n"
    )
    return path


async def test_fax_documents_are_checked_when_the_mailing_is_created(
    ccd: Invoke, tmp_path: Path
) -> None:
    general = write_tiff(tmp_path / "general.tif", 1)
    bad = _variants(tmp_path / "bad.yaml", "notice.pdf", str(general))
    r = await ccd("mailing", "create", "bad", "--variants", str(bad))
    assert r.exit_code == 2, r.output
    assert "bad.yaml: variants.0" in r.output and "templates.fax.default: 'notice.pdf'" in r.output

    missing = tmp_path / "missing.pdf"
    good = _variants(tmp_path / "v.yaml", str(missing), str(general))
    r = await ccd("mailing", "create", "notice", "--purpose", "service", "--variants", str(good))
    assert r.exit_code == 0, r.output
    assert f"note: {good}: variants.0.templates.fax.default: {missing}: no such file here" in (
        r.output
    )
    assert "fallback" not in r.output  # it exists

    (tmp_path / "c.csv").write_text("phone,fax,first_name\n+79160000001,+74951000001,Olena\n")
    assert (await ccd("contacts", "import", str(tmp_path / "c.csv"))).exit_code == 0
    r = await ccd("mailing", "preview", "notice")
    assert r.exit_code == 0, r.output
    assert "1 messages would be sent" in r.output
    assert f"sample (everyone else) / fax (contact 1)\n  {missing}\n" in r.output, r.output


async def test_a_number_blacklisted_as_a_fax_machine_still_gets_faxes(
    ccd: Invoke, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Calls blacklist a number a fax answered (reason fax): that is whom a fax mailing wants.
    Other reasons (dnc, ...) keep faxes away too, at planning and again at sending."""
    (tmp_path / "c.csv").write_text(
        "phone,fax,first_name\n+79160000001,+74951000001,Olena\n+79160000002,+74951000002,Ivan\n"
    )
    assert (await ccd("contacts", "import", str(tmp_path / "c.csv"))).exit_code == 0
    assert (await ccd("blacklist", "add", "+74951000001", "--reason", "fax")).exit_code == 0
    assert (await ccd("blacklist", "add", "+74951000002", "--reason", "dnc")).exit_code == 0
    doc = write_tiff(tmp_path / "doc.tif", 1)
    spec = _variants(tmp_path / "v.yaml", str(doc), str(doc))
    r = await ccd("mailing", "create", "notice", "--purpose", "service", "--variants", str(spec),
                  "--hours", "00:00-24:00")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = await ccd("mailing", "preview", "notice")
    assert "1 messages would be sent" in r.output and "blacklisted" in r.output, r.output

    mailing = await store.load_mailing(pool, "notice")
    await plan(pool, mailing.id, 14)
    async with pool.acquire() as conn:
        claimed = await store.claim(conn, mailing, "me", 10, 14)
    assert [c.address for c in claimed] == ["+74951000001"]
    await pool.execute("INSERT INTO blacklist (phone, reason) VALUES ('+74951000003', 'dnc')")
    await pool.execute("UPDATE mailing_messages SET state = 'planned', address = '+74951000003'"
                       " WHERE address = '+74951000001'")  # fmt: skip
    async with pool.acquire() as conn:
        assert await store.claim(conn, mailing, "me", 10, 14) == []  # checked again at sending
    (row,) = await pool.fetch("SELECT state, reason FROM mailing_messages WHERE address = $1",
                              "+74951000003")  # fmt: skip
    assert tuple(row) == ("skipped", "blacklisted")
