"""SMS mailings as operators run them: `ccd smsc add`, contacts, segments and a mailing through
the CLI, sent by `ccd run` to the SMSC double in a process of its own (as a carrier's SMSC);
receipts settle the messages, a link dropped with submits in flight leaves them `unknown` and
never re-sent, a link that is down hands its numbers to the next one, and receipts that come
after a `kill -9` and a restart still settle the messages sent before it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ccd.sim.smsc.process import SmscProcess
from tests.dialer.conftest import eventually
from tests.dialer.helpers import free_port
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess

pytestmark = pytest.mark.e2e

RU = (
    "{first_name}, ваш тариф «Спокойный» продлён до конца года. Баланс {fields.balance} руб."
    " Вопросы по тарифу и оплате: ответьте на это сообщение, и мы перезвоним вам сегодня."
)
VARIANTS = f"""
variants:
  - segment: seniors
    channels: [sms]
    templates:
      sms:
        text: {{default: "{RU}"}}
        fallback: "Ваш тариф продлён."
  - channels: [sms]
    templates:
      sms:
        text: {{default: "Hi {{first_name}}, double data this month! Reply STOP to opt out."}}
        fallback: "Double data this month!"
"""  # fmt: skip
CONTACTS = """phone,first_name,birth_date,consent_sms,balance
+79161000001,Ольга,1950-03-01,yes,120.50
+79161000002,Ivan,1990-01-01,yes,
+79031000003,Petr,1991-01-01,yes,
+79251000004,Anna,1985-01-01,yes,
+79161000005,Oleg,1980-01-01,no,
"""


async def _smsc_add(daemon: CcdProcess, name: str, smsc: SmscProcess | int, *args: str) -> None:
    port = smsc if isinstance(smsc, int) else smsc.port
    await daemon.cli("smsc", "add", name, "--host", "127.0.0.1", "--port", str(port),
                     "--system-id", "ccd", "--password", "pw16", *args)  # fmt: skip


async def _mailing(daemon: CcdProcess, tmp: Path, name: str, contacts: str, *args: str) -> None:
    (tmp / f"{name}.csv").write_text(contacts)
    (tmp / f"{name}.yaml").write_text(VARIANTS)
    await daemon.cli("contacts", "import", str(tmp / f"{name}.csv"))
    if "seniors" not in await daemon.cli("segment", "list"):
        await daemon.cli("segment", "add", "seniors", "age >= 60")
    await daemon.cli("mailing", "create", name, "--variants", str(tmp / f"{name}.yaml"),
                     "--hours", "00:00-24:00", *args)  # fmt: skip
    await daemon.cli("mailing", "start", name)


async def _settled(daemon: CcdProcess, name: str, within: float = 30) -> dict[str, int]:
    """The mailing completed and no message awaits its receipt; its messages by state."""

    async def done() -> bool:
        out = await daemon.cli("mailing", "status", name)
        return f"mailing {name}: completed" in out and re.search(r"\bsent\s*│\s*0\b", out)

    await eventually(done, within=within, what=f"{name} completed and settled")
    rows = await daemon.sql(
        "SELECT state, count(*) AS n FROM mailing_messages mm JOIN mailings m"
        " ON m.id = mm.mailing_id WHERE m.name = $1 GROUP BY 1", name,
    )  # fmt: skip
    return {r["state"]: r["n"] for r in rows}


@pytest.fixture
def smsc(tmp_path: Path) -> Any:
    procs: list[SmscProcess] = []

    def make(name: str = "smsc", **kw: Any) -> SmscProcess:
        workdir = tmp_path / name
        workdir.mkdir()
        proc = SmscProcess(workdir, {"ccd": "pw16"}, **kw)
        proc.start()
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop()


async def test_an_sms_mailing_is_sent_and_settled_by_receipts_with_its_parts_counted(
    ccd: CcdFactory, smsc: Any, tmp_path: Path
) -> None:
    carrier: SmscProcess = smsc()
    await carrier.control("POST", "/receipts", {"prefix": "7903", "state": "undeliverable"})
    await carrier.control("POST", "/receipts", {"prefix": "7925", "state": "delivered",
                                                "before_resp": True})  # fmt: skip
    daemon = await ccd(start=False)
    await _smsc_add(daemon, "carrier1", carrier, "--source-addr", "SHOP")
    await daemon.start()
    await _mailing(daemon, tmp_path, "tariff", CONTACTS, "--purpose", "marketing")
    states = await _settled(daemon, "tariff")
    assert states == {"delivered": 3, "failed": 1, "skipped": 1}, states

    rows = {r["phone"]: r for r in await daemon.sql(
        "SELECT c.phone, m.state, m.reason, m.parts, m.provider_id FROM mailing_messages m"
        " JOIN contacts c ON c.id = m.contact_id")}  # fmt: skip
    assert (rows["+79031000003"]["state"], rows["+79031000003"]["reason"]) == ("failed", "UNDELIV")
    assert rows["+79161000005"]["reason"] == "opted_out"
    assert rows["+79161000001"]["parts"] == 3
    assert rows["+79161000001"]["provider_id"].count("carrier1:") == 3

    submits = await carrier.control("GET", "/submits")
    by_number = Counter(s["destination"] for s in submits)
    # the opted-out contact got nothing
    assert by_number == {"79161000001": 3, "79161000002": 1, "79031000003": 1, "79251000004": 1}
    olga = "".join(s["text"] for s in submits if s["destination"] == "79161000001")
    assert olga == RU.replace("{first_name}", "Ольга").replace("{fields.balance}", "120.50")
    ivan = next(s for s in submits if s["destination"] == "79161000002")
    assert ivan["text"] == "Hi Ivan, double data this month! Reply STOP to opt out."
    assert ivan["data_coding"] == 0 and ivan["source"] == "SHOP"  # GSM 7-bit, one part

    out = await daemon.cli("report", "mailing", "tariff", "-f", "csv")
    lines = out.strip().splitlines()
    assert lines[0].endswith("unknown,left_out,opted_out,fax_pages,parts,replies"), out
    assert "seniors,sms,1,1,1,0,0,0,0,0,0,3,0" in lines, out
    assert ",sms,3,2,2,1,0,0,0,0,0,3,0" in lines, out
    assert ",,0,0,0,0,0,0,1,0,0,0,0" in lines, out  # left out (opted out): no channel
    status = await daemon.cli("mailing", "status", "tariff")
    assert re.search(r"sms parts sent\s*│\s*6\b", status), status

    ready = await daemon.get("/readyz")
    assert ready.status == 200 and ready.body["smsc"] == {"carrier1": "bound"}
    metrics = await daemon.metrics()
    assert metrics['ccd_smsc_link_up{link="carrier1"}'] == 1.0


async def test_a_link_dropped_with_submits_in_flight_leaves_them_unknown_never_resent(
    ccd: CcdFactory, smsc: Any, tmp_path: Path
) -> None:
    carrier: SmscProcess = smsc()
    daemon = await ccd(start=False, config="[mailing.sms]\nretry_after_s = 0.5\n")
    await _smsc_add(daemon, "carrier1", carrier, "--window", "10")
    await daemon.start()
    n = 20
    contacts = "phone,first_name,consent_sms\n" + "".join(
        f"+7916200{i:04d},P{i},yes\n" for i in range(n)
    )
    await carrier.control("POST", "/config", {"hold": True})  # taken, not answered
    await _mailing(daemon, tmp_path, "flash", contacts, "--purpose", "service")

    async def in_flight() -> bool:
        return (await carrier.control("GET", "/state"))["held"] == 8  # the engine's 8 at once

    await eventually(in_flight, within=20, what="8 submits held at the SMSC")
    held = [s["destination"] for s in await carrier.control("GET", "/submits")]
    await carrier.control("POST", "/config", {"hold": False})
    assert (await carrier.control("POST", "/drop", {}))["dropped"] == 1
    states = await _settled(daemon, "flash")
    assert states == {"unknown": 8, "delivered": n - 8}, states

    unknown = {r["address"].lstrip("+") for r in await daemon.sql(
        "SELECT address FROM mailing_messages WHERE state = 'unknown'")}  # fmt: skip
    assert unknown == set(held)
    submits = Counter(s["destination"] for s in await carrier.control("GET", "/submits"))
    assert len(submits) == n and set(submits.values()) == {1}, submits  # none sent twice
    state = await carrier.control("GET", "/state")
    assert state["binds"] == 2  # it bound again after the drop
    assert (await daemon.metrics())['ccd_smsc_binds_total{link="carrier1"}'] == 2.0


async def test_numbers_fail_over_to_the_next_link_when_theirs_is_down(
    ccd: CcdFactory, smsc: Any, tmp_path: Path
) -> None:
    mts: SmscProcess = smsc("mts")
    backup: SmscProcess = smsc("backup")
    daemon = await ccd(start=False)
    await _smsc_add(daemon, "mts", mts, "--prefix", "+7916")
    await _smsc_add(daemon, "backup", backup, "--prefix", "+7")
    await _smsc_add(daemon, "ghost", free_port(), "--prefix", "+7999")  # down from the start
    await daemon.start()  # a down SMSC does not keep `ccd run` from being ready
    ready = (await daemon.get("/readyz")).body["smsc"]
    assert ready["ghost"] != "bound", ready

    async def bound() -> bool:
        s = (await daemon.get("/readyz")).body["smsc"]
        return s["mts"] == "bound" and s["backup"] == "bound"

    await eventually(bound, within=10, what="mts and backup bound")
    contacts = "phone,first_name\n" + "".join(f"+7916300000{i},P{i}\n" for i in range(4))
    numbers = [f"7916300000{i}" for i in range(4)]
    await _mailing(daemon, tmp_path, "one", contacts, "--purpose", "service")
    assert await _settled(daemon, "one") == {"delivered": 4}
    via_mts = sorted(s["destination"] for s in await mts.control("GET", "/submits"))
    assert via_mts == numbers  # its own numbers while it is up
    mts.stop()  # the carrier goes away

    async def mts_down() -> bool:
        return (await daemon.get("/readyz")).body["smsc"]["mts"] != "bound"

    await eventually(mts_down, within=10, what="mts down")
    await _mailing(daemon, tmp_path, "two", contacts, "--purpose", "service")
    assert await _settled(daemon, "two") == {"delivered": 4}
    via_backup = sorted(s["destination"] for s in await backup.control("GET", "/submits"))
    assert via_backup == numbers
    links = await daemon.sql(
        "SELECT m.name, split_part(mm.provider_id, ':', 1) AS link, count(*) AS n"
        " FROM mailing_messages mm JOIN mailings m ON m.id = mm.mailing_id GROUP BY 1, 2"
    )
    assert sorted(tuple(r) for r in links) == [("one", "mts", 4), ("two", "backup", 4)]


@pytest.mark.slow
async def test_kill_9_mid_mailing_and_receipts_after_the_restart(
    ccd: CcdFactory, smsc: Any, tmp_path: Path
) -> None:
    carrier: SmscProcess = smsc()
    await carrier.control("POST", "/receipts", {"prefix": "", "state": "delivered", "delay": 8})
    daemon = await ccd(start=False)
    await _smsc_add(daemon, "carrier1", carrier, "--tps", "5")
    await daemon.start()
    n = 20
    contacts = "phone,first_name\n" + "".join(f"+7916400{i:04d},P{i}\n" for i in range(n))
    await _mailing(daemon, tmp_path, "notice", contacts, "--purpose", "service")

    async def some_sent() -> bool:
        return len(await daemon.sql("SELECT 1 FROM mailing_messages WHERE state = 'sent'")) >= 5

    await eventually(some_sent, within=20, what="5 messages sent")
    daemon.kill9()  # well before the first receipt (8 s after its submit)
    # a handed message may have gone out; a claimed one (not yet handed) did not
    at_kill = {r["state"]: r["n"] for r in await daemon.sql(
        "SELECT CASE WHEN state <> 'sending' THEN state WHEN sending_at IS NULL THEN 'claimed'"
        " ELSE 'handed' END AS state, count(*) AS n FROM mailing_messages GROUP BY 1")}  # fmt: skip
    sent_before = {r["id"] for r in await daemon.sql(
        "SELECT id FROM mailing_messages WHERE state = 'sent'")}  # fmt: skip
    assert at_kill.get("handed", 0) > 0 and sent_before, at_kill

    again = await ccd()
    states = await _settled(again, "notice")
    assert states.get("unknown") == at_kill["handed"], (states, at_kill)
    assert states.get("delivered", 0) + states["unknown"] == n
    delivered = {r["id"] for r in await again.sql(
        "SELECT id FROM mailing_messages WHERE state = 'delivered'")}  # fmt: skip
    assert sent_before <= delivered  # their receipts came to the new process
    submits = Counter(s["destination"] for s in await carrier.control("GET", "/submits"))
    assert set(submits.values()) == {1}, submits  # at most once
    assert again.events("mailing.message_unknown")
