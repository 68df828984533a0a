"""`ccd smsc add/list/remove/test` against the real database and the SMSC double."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from typer.testing import Result

from ccd.messaging.sms.receipts import DeliveryState
from ccd.sim.smsc.double import ReceiptRule, SmscDouble
from tests.cli.test_routing_blacklist import rows

Invoke = Callable[..., Awaitable[Result]]


async def test_add_list_remove(ccd: Invoke, pool: asyncpg.Pool) -> None:
    r = await ccd("smsc", "add", "mts", "--host", "smpp.example.net", "--port", "2775",
                  "--system-id", "ccd", "--password", "s3cret", "--system-type", "VMA",
                  "--tps", "50", "--window", "10", "--prefix", "+7916,+7903", "--prefix", "+7915",
                  "--source-addr", "SHOP")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = await ccd("smsc", "add", "any", "--host", "h", "--port", "1", "--system-id", "x",
                  "--password", "")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = await ccd("smsc", "list")
    listing = " ".join(rows(r.stdout))
    assert "mts smpp.example.net:2775 ccd 50 10 +7916,+7903,+7915 SHOP" in listing
    assert "any h:1 x no limit 10 any" in listing
    assert "s3cret" not in r.stdout
    row = await pool.fetchrow("SELECT * FROM smsc_links WHERE name = 'mts'")
    assert (row["password"], row["system_type"], row["prefixes"]) == (
        "s3cret", "VMA", ["+7916", "+7903", "+7915"])  # fmt: skip

    r = await ccd("smsc", "remove", "any")
    assert r.exit_code == 0, r.output
    r = await ccd("smsc", "remove", "any")
    assert r.exit_code == 2 and "no SMSC link named 'any'" in r.output
    assert await pool.fetchval("SELECT count(*) FROM smsc_links") == 1


async def test_bad_input_names_the_flag_and_writes_nothing(ccd: Invoke, pool: asyncpg.Pool) -> None:
    base = ["--host", "h", "--port", "2775", "--system-id", "ccd", "--password", "pw"]
    bad = [
        (["x", "--host", "h", "--port", "0", "--system-id", "c", "--password", "p"], "--port:"),
        (["x", *base, "--tps", "0"], "--tps:"),
        (["x", *base, "--window", "0"], "--window:"),
        (["x", *base, "--prefix", "+79a"], "--prefix: Value error, prefix '+79a'"),
        (["x", "--host", "h", "--port", "1", "--system-id", "c" * 16, "--password", "p"],
         "--system-id:"),
        (["x", "--host", "h", "--port", "1", "--system-id", "c", "--password", "123456789"],
         "--password:"),
        (["bad name", *base], "NAME:"),
    ]  # fmt: skip
    for args, needle in bad:
        r = await ccd("smsc", "add", *args)
        assert r.exit_code == 2, (args, r.output)
        assert needle.replace("Value error, ", "") in " ".join(r.output.split()), (needle, r.output)
    r = await ccd("smsc", "add", "dup", *base)
    r = await ccd("smsc", "add", "dup", *base)
    assert r.exit_code == 2 and "an SMSC link named 'dup' exists already" in r.output
    assert await pool.fetchval("SELECT count(*) FROM smsc_links") == 1


async def test_a_test_message_goes_out_and_its_receipts_come_back(ccd: Invoke) -> None:
    smsc = SmscDouble(accounts={"ccd": "pw"})
    smsc.rules[""] = ReceiptRule(DeliveryState.DELIVERED, delay=0.1)
    await smsc.start()
    try:
        r = await ccd("smsc", "add", "local", "--host", "127.0.0.1", "--port", str(smsc.port),
                      "--system-id", "ccd", "--password", "pw", "--prefix", "+7903",
                      "--source-addr", "CCD")  # fmt: skip
        assert r.exit_code == 0, r.output
        r = await ccd("smsc", "test", "local", "--to", "+79161234567", "--text", "Тест " * 20)
        assert r.exit_code == 0, r.output
        out = r.stdout
        assert "local: bound" in out and "part 1/2: accepted" in out and "part 2/2: accepted" in out
        assert out.count(": delivered at ") == 2, out
        assert [s.destination for s in smsc.submits] == ["79161234567"] * 2
        assert smsc.submits[0].source == "CCD"

        smsc.accounts["ccd"] = "other"
        r = await ccd("smsc", "test", "local", "--to", "+79161234567", "--wait", "1")
        assert r.exit_code == 1 and "local: not bound to 127.0.0.1" in r.output
        r = await ccd("smsc", "test", "nope", "--to", "+79161234567")
        assert r.exit_code == 2 and "no SMSC link named 'nope'" in r.output
        r = await ccd("smsc", "test", "local", "--to", "+7916")
        assert r.exit_code == 2 and "--to: not a valid number" in r.output
        r = await ccd("smsc", "test", "local", "--to", "+79161234567", "--text", "")
        assert r.exit_code == 2 and "--text: an SMS needs at least one character" in r.output
    finally:
        await smsc.stop()
