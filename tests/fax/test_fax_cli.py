"""`ccd mailing create` with a fax variant: a bad document path is refused naming the field,
a document missing on this machine is noted (ccd run may read another disk), and preview
shows the document a sample contact gets."""

from __future__ import annotations

from pathlib import Path

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
