"""The fax channel's parts that need no call: what a call's end means for the message, the
document made ready for SendFAX (TIFF copied, PDF converted by ghostscript, a clear error
without it), and the variants file's fax templates."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ccd.config import ConfigError, FaxSettings, load_settings
from ccd.messaging.channel import Outcome
from ccd.messaging.fax import result_of
from ccd.messaging.fax_document import DocumentError, FaxDocuments
from ccd.messaging.spec import SpecError, load_spec
from ccd.sim.asterisk.sendfax import tiff_pages
from ccd.telephony.causes import Outcome as CallOutcome
from ccd.telephony.pbx import CallEnded, FaxReport
from tests.fax.documents import first_page_tags, write_pdf, write_tiff

CFG = FaxSettings(spool_dir=Path("/nonexistent"), max_attempts=3, retry_busy_s=600,
                  retry_no_answer_s=900, retry_congestion_s=60)  # fmt: skip
AT = datetime(2026, 12, 3, tzinfo=UTC)


def ended(
    outcome: CallOutcome = CallOutcome.ANSWERED, *, answered: bool = True, cause: int = 16,
    fax: FaxReport | None = None, lost: bool = False, cause_txt: str | None = None,
) -> CallEnded:  # fmt: skip
    return CallEnded("fax-1-abc", "pbx1", AT, outcome, answered, cause, None, None,
                     lost=lost, cause_txt=cause_txt, fax=fax)  # fmt: skip


def test_a_fax_sent_whole_is_delivered_with_its_pages() -> None:
    r = result_of(ended(fax=FaxReport("SUCCESS", detail="OK", pages=3)), 1, CFG)
    assert (r.outcome, r.pages, r.provider_id, r.reason) == (
        Outcome.DELIVERED, 3, "fax-1-abc", None)  # fmt: skip


def test_a_failed_fax_fails_with_faxerror_and_the_pages_that_went() -> None:
    report = FaxReport("FAILED", error="Disconnected after permitted retries",
                       detail="Disconnected after permitted retries", pages=1)  # fmt: skip
    r = result_of(ended(fax=report), 1, CFG)
    assert r.outcome is Outcome.FAILED and r.pages == 1
    assert r.reason == "fax failed: Disconnected after permitted retries; 1 page sent"
    hung = result_of(ended(fax=FaxReport("FAILED", "HANGUP", "remote channel hungup", 0)), 1, CFG)
    assert hung.reason == "fax failed: HANGUP (remote channel hungup); 0 pages sent"


@pytest.mark.parametrize(
    ("outcome", "cause", "delay"),
    [(CallOutcome.BUSY, 17, 600), (CallOutcome.NO_ANSWER, 19, 900),
     (CallOutcome.REJECTED, 21, 900), (CallOutcome.CONGESTION, 34, 60)],
)  # fmt: skip
def test_busy_and_no_answer_are_tried_again_like_calls(
    outcome: CallOutcome, cause: int, delay: float
) -> None:
    r = result_of(ended(outcome, answered=False, cause=cause, cause_txt="x"), 1, CFG)
    assert (r.outcome, r.retry_after_s) == (Outcome.RETRY, delay)
    assert r.reason == f"{outcome.value.lower().replace('_', ' ')} (cause {cause} x)"
    last = result_of(ended(outcome, answered=False, cause=cause), CFG.max_attempts, CFG)
    assert last.outcome is Outcome.FAILED
    assert last.reason is not None and last.reason.endswith("gave up after 3 attempts")


def test_a_bad_number_fails_at_once() -> None:
    r = result_of(ended(CallOutcome.BAD_NUMBER, answered=False, cause=1,
                        cause_txt="Unallocated (unassigned) number"), 1, CFG)  # fmt: skip
    assert r.outcome is Outcome.FAILED
    assert r.reason == "bad number (cause 1 Unallocated (unassigned) number)"


def test_an_answer_without_sendfax_fails_and_a_lost_call_is_unknown() -> None:
    r = result_of(ended(), 1, CFG)
    assert r.outcome is Outcome.FAILED and r.reason == "answered, but no fax was sent (cause 16)"
    lost = result_of(ended(answered=False, lost=True), 1, CFG)
    assert lost.outcome is Outcome.UNKNOWN  # it may have gone out: never sent again


async def test_a_tiff_is_copied_into_the_spool_once(tmp_path: Path) -> None:
    docs = FaxDocuments(tmp_path / "spool")
    docs.setup()
    source = write_tiff(tmp_path / "notice.TIF", 3)
    first = await docs.prepare(source)
    assert first.parent == tmp_path / "spool" and first.suffix == ".tif"
    assert first.read_bytes() == source.read_bytes()
    assert oct(first.stat().st_mode & 0o777) == "0o644"
    assert await docs.prepare(source) == first
    write_tiff(source, 2)  # a changed document is a new file
    assert await docs.prepare(source) != first
    assert len(list((tmp_path / "spool").iterdir())) == 2


async def test_a_pdf_becomes_a_fax_tiff_with_ghostscript(tmp_path: Path) -> None:
    docs = FaxDocuments(tmp_path / "spool")
    docs.setup()
    tiff = await docs.prepare(write_pdf(tmp_path / "notice.pdf", 2))
    assert tiff_pages(tiff) == 2
    tags = first_page_tags(tiff)
    # T.4's page width at fine resolution, G4 (T.6) compressed.
    assert (tags[256], tags[259]) == (1728, 4)


async def test_a_pdf_without_ghostscript_fails_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = tmp_path / "notice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no gs on it
    docs = FaxDocuments(tmp_path / "spool")
    docs.setup()
    with pytest.raises(DocumentError) as err:
        await docs.prepare(pdf)
    assert str(pdf) in str(err.value) and "ghostscript" in str(err.value)
    assert "`gs` is not installed" in str(err.value)
    assert os.listdir(tmp_path / "spool") == []


async def test_unreadable_or_foreign_documents_fail_naming_the_file(tmp_path: Path) -> None:
    docs = FaxDocuments(tmp_path / "spool")
    docs.setup()
    with pytest.raises(DocumentError, match=r"missing\.pdf: No such file"):
        await docs.prepare(tmp_path / "missing.pdf")
    text = tmp_path / "notice.pdf"
    text.write_text("hello")
    with pytest.raises(DocumentError, match=r"notice\.pdf: not a TIFF or PDF file"):
        await docs.prepare(text)


async def test_a_broken_pdf_reports_what_ghostscript_said(tmp_path: Path) -> None:
    write_pdf(tmp_path / "ok.pdf", 1)  # asserts gs is there
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a pdf\n")
    docs = FaxDocuments(tmp_path / "spool")
    docs.setup()
    with pytest.raises(DocumentError, match=r"broken\.pdf: ghostscript could not convert it"):
        await docs.prepare(broken)
    assert [p for p in (tmp_path / "spool").iterdir()] == []


@pytest.mark.parametrize(
    ("text", "where"),
    [("notice.pdf", "templates.fax.default"), ("/srv/notice.docx", "templates.fax.default")],
)
def test_a_fax_template_must_name_a_tiff_or_pdf_by_absolute_path(
    tmp_path: Path, text: str, where: str
) -> None:
    spec = tmp_path / "v.yaml"
    spec.write_text(
        "variants:\n  - channels: [fax]\n    templates:\n"
        f"      fax: {{text: {{default: '{text}'}}, fallback: /srv/general.tif}}\n"
    )
    with pytest.raises(SpecError, match=rf"v\.yaml: variants\.0: .*{where}: '{text}' is not"):
        load_spec(spec)
    spec.write_text(
        "variants:\n  - channels: [fax]\n    templates:\n"
        "      fax: {text: {default: '/srv/{fields.account}.PDF'}, fallback: /srv/g.tiff}\n"
    )
    assert load_spec(spec).variants[0].channels == ["fax"]


def test_the_fax_settings_name_their_errors(tmp_path: Path) -> None:
    config = tmp_path / "ccd.toml"
    config.write_text('[mailing.fax]\nspool_dir = "spool"\n')
    with pytest.raises(ConfigError, match=r"mailing\.fax\.spool_dir.*must be an absolute path"):
        load_settings(config)
    config.write_text('[mailing.fax]\ncaller_id = "+74950000000"\n')
    with pytest.raises(ConfigError, match=r"mailing\.fax\.spool_dir"):
        load_settings(config)
    config.write_text(f'[mailing.fax]\nspool_dir = "{tmp_path}"\nretry_busy_s = 60\n')
    fax = load_settings(config).mailing.fax
    assert fax is not None and (fax.retry_busy_s, fax.max_attempts) == (60, 5)
