"""Lead import from messy real-world files, against the real database."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import asyncpg
import pytest
from openpyxl import Workbook

from ccd.store.leads_import import (
    CHUNK_ROWS,
    ImportResult,
    LeadImportError,
    import_leads,
    parse_column_map,
)


async def new_campaign(conn: asyncpg.Connection, name: str = "c", zone: str = "UTC") -> int:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO campaigns (name, mode, time_zone) VALUES ($1, 'POWER', $2) RETURNING id",
        name, zone,
    )  # fmt: skip


async def leads(conn: asyncpg.Connection, campaign_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT phone, name, fields, priority, time_zone, status, source_line FROM leads"
        " WHERE campaign_id = $1 ORDER BY source_line",
        campaign_id,
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def read_rejects(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        sample = f.read()
    delimiter = ";" if sample.splitlines()[0].count(";") else ","
    return list(csv.reader(sample.splitlines(), delimiter=delimiter))


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> asyncpg.Connection:
    async with pool.acquire() as c:
        yield c


async def test_cp1251_excel_export_with_semicolons(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn, zone="Europe/Moscow")
    src = write(
        tmp_path / "база.csv",
        "ФИО;Телефон;Город;Комментарий\r\n"
        "Иванов Иван;+7 (495) 123-45-67;Москва;перезвонить\r\n"
        "Петров Пётр;8 916 123 45 67;Тверь;\r\n"
        "Сидоров;89161234568;;VIP\r\n",
        "cp1251",
    )
    result = await import_leads(conn, cid, src, region="RU")
    assert (result.encoding, result.loaded, result.rejected) == ("cp1251", 3, 0)
    rows = await leads(conn, cid)
    assert [r["phone"] for r in rows] == ["+74951234567", "+79161234567", "+79161234568"]
    assert rows[0]["name"] == "Иванов Иван"
    assert rows[0]["fields"] == {"Город": "Москва", "Комментарий": "перезвонить"}
    assert rows[2]["fields"] == {"Комментарий": "VIP"}
    # Moscow landline: its own zone. A mobile lists all Russian zones: the campaign's is chosen.
    assert [r["time_zone"] for r in rows] == ["Europe/Moscow"] * 3
    assert [r["source_line"] for r in rows] == [2, 3, 4]


async def test_utf8_bom_comma_and_header_guesses(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    src = write(
        tmp_path / "leads.csv",
        "\ufeffPhone Number,Full Name,Priority,Time Zone,Notes\n"
        "+442071234567,Ann,5,,x\n"
        "+12125551234,Bob,,America/Chicago,\n"
        "+79161234567,Вера,,,\n",
    )
    result = await import_leads(conn, cid, src)
    assert (result.encoding, result.loaded) == ("utf-8-sig", 3)
    rows = await leads(conn, cid)
    assert [(r["name"], r["priority"], r["time_zone"]) for r in rows] == [
        ("Ann", 5, "Europe/London"),
        ("Bob", 0, "America/Chicago"),  # the file's zone column wins over the number's
        ("Вера", 0, None),  # Russian mobile, campaign in UTC: unknown, judged in UTC
    ]
    assert rows[0]["fields"] == {"Notes": "x"}


async def test_column_map_and_missing_phone_column(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    src = write(tmp_path / "a.csv", "Клиент,Контактный номер,Сумма\nАнна,+74951234567,100\n")
    with pytest.raises(LeadImportError) as err:
        await import_leads(conn, cid, src)
    assert "no phone column" in str(err.value)
    assert "Клиент, Контактный номер, Сумма" in str(err.value)  # the columns found

    mapping = parse_column_map("phone=Контактный номер,name=Клиент")
    result = await import_leads(conn, cid, src, column_map=mapping)
    assert result.loaded == 1
    row = (await leads(conn, cid))[0]
    assert (row["name"], row["fields"]) == ("Анна", {"Сумма": "100"})

    with pytest.raises(LeadImportError, match="--map phone=Tel: no such column"):
        await import_leads(conn, cid, src, column_map={"phone": "Tel"})
    with pytest.raises(ValueError, match="unknown field 'email'"):
        parse_column_map("email=E-mail")


async def test_empty_file_and_header_only(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    for content in (b"", b"\xef\xbb\xbf", b"\n\n  \n"):
        (tmp_path / "empty.csv").write_bytes(content)
        with pytest.raises(LeadImportError, match="empty"):
            await import_leads(conn, cid, tmp_path / "empty.csv")
    result = await import_leads(conn, cid, write(tmp_path / "h.csv", "phone;name\r\n"))
    assert (result.rows, result.loaded, result.rejected, result.rejects_path) == (0, 0, 0, None)
    assert not (tmp_path / "h-rejects.csv").exists()


async def test_undecodable_bytes(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    # 0x98 is unassigned in cp1251 and a stray continuation byte in UTF-8.
    (tmp_path / "bad.csv").write_bytes(b"phone\n+74951234567\n\x98\x98\n")
    with pytest.raises(LeadImportError, match="cannot decode") as err:
        await import_leads(conn, cid, tmp_path / "bad.csv")
    assert "utf-8-sig fails at line 3 (byte 19)" in str(err.value)
    (tmp_path / "bin.csv").write_bytes(b"phone\n\x00\x01\x02")
    with pytest.raises(LeadImportError, match="NUL"):
        await import_leads(conn, cid, tmp_path / "bin.csv")
    assert await leads(conn, cid) == []


async def test_quoted_newlines_keep_line_numbers(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    src = write(
        tmp_path / "q.csv",
        'phone,name,address\n'
        '+74951234567,"Smith, John","line one\nline two\nline three"\n'
        'not-a-number,Bad,x\n'
        '+74951234568,"Multi\nline name",y\n',
    )  # fmt: skip
    result = await import_leads(conn, cid, src)
    assert (result.loaded, result.rejected) == (2, 1)
    rows = await leads(conn, cid)
    assert rows[0]["fields"] == {"address": "line one\nline two\nline three"}
    assert rows[1]["name"] == "Multi\nline name"
    assert [r["source_line"] for r in rows] == [2, 6]
    rejects = read_rejects(result.rejects_path)  # type: ignore[arg-type]
    assert rejects[0] == ["line", "reason", "phone", "name", "address"]
    assert rejects[1][:3] == ["5", "phone: not a phone number", "not-a-number"]


async def test_ten_percent_invalid_numbers(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    lines = ["phone,name"]
    for i in range(1000):
        if i % 10 == 3:
            lines.append(f"{'12' if i % 20 == 3 else '+7999abc'},bad{i}")
        else:
            lines.append(f"+7916{i:07d},ok{i}")
    src = write(tmp_path / "mixed.csv", "\n".join(lines) + "\n")
    out = tmp_path / "out" / "rej.csv"
    out.parent.mkdir()
    result = await import_leads(conn, cid, src, rejects_path=out)
    assert (result.rows, result.loaded, result.rejected) == (1000, 900, 100)
    assert result.rejects_path == out
    rejects = read_rejects(out)[1:]
    assert len(rejects) == 100
    assert rejects[0][0] == "5"  # line 5 holds row i = 3
    assert all(r[1].startswith("phone: ") for r in rejects)
    assert {r[1] for r in rejects} >= {"phone: national number without a region "
                                        "(give --region or use +country code)"}  # fmt: skip


async def test_duplicates_in_file_and_in_campaign(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    first = write(tmp_path / "1.csv", "phone,name\n+74951234567,A\n8 495 123-45-67,A again\n"
                                      "+74951234568,B\n")  # fmt: skip
    result = await import_leads(conn, cid, first, region="RU")
    assert (result.loaded, result.duplicates) == (2, 1)
    assert [r["name"] for r in await leads(conn, cid)] == ["A", "B"]  # the first one wins
    second = write(tmp_path / "2.csv", "phone,name\n+74951234568,B2\n+74951234569,C\n")
    result = await import_leads(conn, cid, second)
    assert (result.loaded, result.duplicates) == (1, 1)
    assert len(await leads(conn, cid)) == 3
    # Another campaign may hold the same number.
    other = await new_campaign(conn, "other")
    assert (await import_leads(conn, other, second)).loaded == 2


async def test_blacklisted_numbers_load_as_blacklisted(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    await conn.execute("INSERT INTO blacklist (phone, reason) VALUES ('+74951234568', 'dnc')")
    src = write(tmp_path / "b.csv", "phone\n+74951234567\n+74951234568\n")
    result = await import_leads(conn, cid, src)
    assert (result.loaded, result.blacklisted) == (2, 1)
    statuses = {r["phone"]: r["status"] for r in await leads(conn, cid)}
    assert statuses == {"+74951234567": "new", "+74951234568": "blacklisted"}


async def test_bad_priority_and_timezone_are_rejected(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cid = await new_campaign(conn)
    src = write(
        tmp_path / "p.csv",
        "phone,priority,tz\n+74951234567,high,\n+74951234568,99999,\n+74951234569,1,Mars/Base\n"
        "+74951234570,2,Asia/Tokyo\n",
    )
    result = await import_leads(conn, cid, src, default_priority=7)
    assert (result.loaded, result.rejected) == (1, 3)
    reasons = [r[1] for r in read_rejects(result.rejects_path)[1:]]  # type: ignore[arg-type]
    assert reasons == [
        "priority: not a whole number: 'high'",
        "priority: out of range: 99999",
        "timezone: unknown IANA zone 'Mars/Base'",
    ]
    row = (await leads(conn, cid))[0]
    assert (row["priority"], row["time_zone"]) == (2, "Asia/Tokyo")


async def test_xlsx(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    wb = Workbook()
    ws = wb.active
    ws.append(["Телефон", "ФИО", "Сумма долга"])
    ws.append([74951234567, "Иванов", 1500.5])  # a number typed as a number in Excel
    ws.append(["+7 916 123-45-67", "Петров", None])
    ws.append([None, None, None])  # blank row
    ws.append(["garbage", "X", 1])
    wb.save(tmp_path / "leads.xlsx")
    result = await import_leads(conn, cid, tmp_path / "leads.xlsx", region="RU")
    assert (result.loaded, result.rejected, result.encoding) == (2, 1, None)
    rows = await leads(conn, cid)
    assert [(r["phone"], r["name"], r["source_line"]) for r in rows] == [
        ("+74951234567", "Иванов", 2),
        ("+79161234567", "Петров", 3),
    ]
    assert rows[0]["fields"] == {"Сумма долга": "1500.5"}
    assert read_rejects(result.rejects_path)[1][:2] == ["5", "phone: not a phone number"]  # type: ignore[arg-type]


async def test_xlsx_that_is_not_an_xlsx(conn: asyncpg.Connection, tmp_path: Path) -> None:
    cid = await new_campaign(conn)
    write(tmp_path / "fake.xlsx", "phone\n+74951234567\n")
    with pytest.raises(LeadImportError, match="not an XLSX workbook"):
        await import_leads(conn, cid, tmp_path / "fake.xlsx")
    with pytest.raises(LeadImportError, match="no such file"):
        await import_leads(conn, cid, tmp_path / "missing.csv")


@pytest.mark.parametrize("interrupt_at", [1, 2])  # after the first COPY; during a flush
async def test_atomic_nothing_lands_when_interrupted(
    conn: asyncpg.Connection, tmp_path: Path, interrupt_at: int
) -> None:
    cid = await new_campaign(conn)
    rows = [f"+7916{i:07d}" for i in range(CHUNK_ROWS * 2)] + ["bad"]
    src = write(tmp_path / "big.csv", "phone\n" + "\n".join(rows) + "\n")
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        await import_leads(conn, cid, src, progress=interrupt)
    assert await leads(conn, cid) == []
    assert not (tmp_path / "big-rejects.csv").exists()
    assert not (tmp_path / "big-rejects.csv.part").exists()
    result = await import_leads(conn, cid, src)
    assert (result.loaded, result.rejected) == (CHUNK_ROWS * 2, 1)


async def test_worker_processes_give_the_same_result(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    lines = ["phone;name"] + [
        f"8 916 {i:03d}-{i % 100:02d}-{i % 97:02d};n{i}" if i % 7 else f"bad{i};x"
        for i in range(CHUNK_ROWS * 3)
    ]
    src = write(tmp_path / "w.csv", "\n".join(lines) + "\n")
    results: list[ImportResult] = []
    for workers, name in ((1, "one"), (2, "two")):
        cid = await new_campaign(conn, name)
        results.append(await import_leads(conn, cid, src, region="RU", workers=workers))
    assert results[0].loaded > 0
    counts = [(r.loaded, r.duplicates, r.rejected) for r in results]
    assert counts[0] == counts[1]
    same = await conn.fetchval(
        "SELECT count(*) FROM leads a JOIN leads b USING (phone, source_line)"
        " WHERE a.campaign_id <> b.campaign_id AND a.campaign_id < b.campaign_id"
    )
    assert same == results[0].loaded


async def test_status_change_is_not_blocked_by_an_import(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    from ccd.domain.campaigns import CampaignStatus
    from ccd.store.campaigns import set_status

    src = write(tmp_path / "l.csv",
                "phone\n" + "".join(f"+7916{i:07d}\n" for i in range(CHUNK_ROWS * 3)))  # fmt: skip
    done: dict[str, float] = {}
    tasks: list[asyncio.Task[object]] = []
    loop = asyncio.get_running_loop()

    async def pause_meanwhile() -> None:
        async with pool.acquire() as other:
            await set_status(other, "c", CampaignStatus.RUNNING)
        done["status"] = loop.time()

    def on_progress(done_bytes: int, total: int) -> None:
        if not tasks:  # inside the import's transaction, after the first chunk
            tasks.append(asyncio.ensure_future(pause_meanwhile()))

    async with pool.acquire() as conn:
        cid = await new_campaign(conn)
        await import_leads(conn, cid, src, progress=on_progress)
        done["import"] = loop.time()
    await asyncio.wait_for(tasks[0], 10)
    assert done["status"] < done["import"]
