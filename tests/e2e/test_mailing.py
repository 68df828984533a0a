"""A mailing as operators run it: contacts, a segment and a mailing through the CLI, sent by
`ccd run` to a real SMTP server in the test process; the recipient's one-click unsubscribe
(RFC 8058) goes to ccd's HTTP API and stops the next mailing; a double opt-in confirmed by
its link lets the next mailing through."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from tests.dialer.conftest import eventually
from tests.dialer.helpers import free_port
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess
from tests.mailing.conftest import Inbox

pytestmark = pytest.mark.e2e

CONTACTS = """phone,email,first_name,birth_date,language,consent_email,balance
+380441000001,olena@example.com,Olena,1950-03-01,uk,yes,12.50
+380441000002,ivan@example.com,Ivan,1990-01-01,en,yes,
+380441000003,petro@example.com,Petro,1991-01-01,en,no,
+380441000004,maria@example.com,Maria,1985-01-01,en,pending,
"""
VARIANTS = """
variants:
  - segment: seniors
    channels: [email]
    templates:
      email:
        subject: "Your balance, {first_name}"
        text: {default: "You owe {fields.balance}.", uk: "Ваш борг {fields.balance}."}
        fallback: "Please check your balance."
  - channels: [email]
    templates:
      email:
        subject: "News"
        text: {default: "Hello {first_name}, you owe {fields.balance}."}
        fallback: "Hello {first_name}, please check your balance."
confirmation:
  email:
    subject: "Please confirm"
    text: {default: "{first_name}, confirm you want our news: {confirm_url}"}
    fallback: "Confirm you want our news: {confirm_url}"
"""


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def _status(daemon: CcdProcess, name: str, wanted: str) -> None:
    async def reached() -> bool:
        return f"mailing {name}: {wanted}" in await daemon.cli("mailing", "status", name)

    await eventually(reached, within=30, what=f"{name} {wanted}")


async def test_mailing_sent_by_the_daemon_and_unsubscribed_in_one_click(
    ccd: CcdFactory, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    daemon = await ccd(config=(
        '[mailing]\nfrom_address = "news@ccd.test"\n'
        f'[[mailing.smtp]]\nhost = "127.0.0.1"\nport = {port}\n'
    ))  # fmt: skip
    (tmp_path / "c.csv").write_text(CONTACTS)
    (tmp_path / "v.yaml").write_text(VARIANTS)
    out = await daemon.cli("contacts", "import", str(tmp_path / "c.csv"))
    assert "created:     4" in out
    await daemon.cli("segment", "add", "seniors", "age >= 60")
    await daemon.cli("mailing", "create", "spring", "--purpose", "marketing", "--variants",
                     str(tmp_path / "v.yaml"), "--hours", "00:00-24:00")  # fmt: skip
    out = await daemon.cli("mailing", "preview", "spring")
    assert "opted_out" in out and "3 messages would be sent" in out
    # An operator follows it live on a terminal: the view updates until the mailing ends.
    watch = await daemon.cli_on_terminal("mailing", "status", "spring", "--watch")

    async def shown() -> bool:
        return "mailing spring: draft" in watch.output()

    await eventually(shown, within=30, what="the live status on the terminal")
    await daemon.cli("mailing", "start", "spring")
    await _status(daemon, "spring", "completed")
    assert await watch.wait(within=30) == 0, watch.output()
    assert "mailing spring: completed" in watch.output().rsplit("mailing spring: draft", 1)[1]

    assert sorted(m["To"] for m in inbox.messages) == [
        "ivan@example.com", "maria@example.com", "olena@example.com",
    ]  # fmt: skip
    (maria,) = inbox.to("maria@example.com")
    assert maria["Subject"] == "Please confirm"
    maria_body = maria.get_body(("plain",))
    assert maria_body is not None
    found = re.search(r"confirm you want our news: (http://127\.0\.0\.1:\d+/c/[\w-]+)",
                      maria_body.get_content())  # fmt: skip
    assert found, maria_body.get_content()
    confirm_url = found[1]
    (olena,) = inbox.to("olena@example.com")
    assert olena["Subject"] == "Your balance, Olena"
    body = olena.get_body(("plain",))
    assert body is not None and "Ваш борг 12.50." in body.get_content()
    (ivan,) = inbox.to("ivan@example.com")
    ivan_body = ivan.get_body(("plain",))
    assert ivan_body is not None
    assert "Hello Ivan, please check your balance." in ivan_body.get_content()  # the fallback
    assert ivan["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    m = re.fullmatch(r"<(http://127\.0\.0\.1:\d+/u/[\w-]+)>", ivan["List-Unsubscribe"])
    assert m, ivan["List-Unsubscribe"]
    url = m[1]

    async with aiohttp.ClientSession() as s:
        async with s.get(url) as resp:  # a link scanner's GET changes nothing
            assert resp.status == 200 and "<form" in await resp.text()
        assert not await daemon.sql(
            "SELECT 1 FROM consent_events WHERE method = 'unsubscribe_link'"
        )
        async with s.post(url, data="List-Unsubscribe=One-Click", headers={
            "Content-Type": "application/x-www-form-urlencoded"}) as resp:  # fmt: skip
            assert resp.status == 200
        async with s.post(url.rsplit("/", 1)[0] + "/nope") as resp:
            assert resp.status == 404
        # A confirmation link is not an unsubscribe link (nor the other way round).
        async with s.post(confirm_url.replace("/c/", "/u/")) as resp:
            assert resp.status == 404
        async with s.get(confirm_url) as resp:
            assert resp.status == 200 and "Yes, I agree" in await resp.text()
        async with s.post(confirm_url) as resp:
            assert resp.status == 200
    (row,) = await daemon.sql(
        "SELECT c.email, e.channel, e.purpose, e.status, e.proof FROM consent_events e"
        " JOIN contacts c ON c.id = e.contact_id WHERE e.method = 'unsubscribe_link'"
    )
    assert (row["email"], row["channel"], row["purpose"], row["status"]) == (
        "ivan@example.com", "email", "marketing", "opt_out",
    )  # fmt: skip
    assert json.loads(row["proof"])["one_click"] is True
    out = await daemon.cli("contacts", "show", "ivan@example.com")
    assert "unsubscribe_link" in out and "opt_out" in out and "spring" in out

    (confirmed,) = await daemon.sql(
        "SELECT c.email, e.status, e.channel FROM consent_events e"
        " JOIN contacts c ON c.id = e.contact_id WHERE e.method = 'confirmation'"
    )
    assert tuple(confirmed) == ("maria@example.com", "opt_in", "email")

    # The next mailing leaves Ivan out (opted out) and Olena (the 14-day cap); Maria, who
    # confirmed, gets it (a confirmation is not a marketing message: no cap).
    (tmp_path / "v2.yaml").write_text(VARIANTS)
    await daemon.cli("mailing", "create", "summer", "--variants", str(tmp_path / "v2.yaml"),
                     "--hours", "00:00-24:00")  # fmt: skip
    await daemon.cli("mailing", "start", "summer")
    await _status(daemon, "summer", "completed")
    out = await daemon.cli("mailing", "status", "summer")
    assert re.search(r"left out: opted_out\s*│\s*2", out), out
    assert re.search(r"left out: capped\s*│\s*1", out), out
    assert len(inbox.messages) == 4
    assert [m["Subject"] for m in inbox.to("maria@example.com")] == ["Please confirm", "News"]


@pytest.mark.slow
async def test_kill_9_mid_mailing_leaves_unknown_never_resent(
    ccd: CcdFactory, smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    inbox, port = smtp
    config = (
        '[mailing]\nbatch = 40\n'
        f'[[mailing.smtp]]\nhost = "127.0.0.1"\nport = {port}\nrate_per_s = 25\n'
    )  # fmt: skip
    daemon = await ccd(config=config)
    n = 150
    rows = "".join(f"p{i}@example.com,P{i},yes\n" for i in range(n))
    (tmp_path / "c.csv").write_text("email,first_name,consent_email\n" + rows)
    (tmp_path / "v.yaml").write_text(VARIANTS)
    await daemon.cli("contacts", "import", str(tmp_path / "c.csv"))
    await daemon.cli("segment", "add", "seniors", "age >= 60")
    await daemon.cli("mailing", "create", "big", "--variants", str(tmp_path / "v.yaml"),
                     "--hours", "00:00-24:00")  # fmt: skip
    await daemon.cli("mailing", "start", "big")

    in_flight = (
        "SELECT count(*) FILTER (WHERE state = 'sending' AND sending_at IS NOT NULL) AS handed,"
        " count(*) FILTER (WHERE state = 'sending' AND sending_at IS NULL) AS claimed"
        " FROM mailing_messages"
    )

    async def mid_batch() -> bool:  # some sent, and a batch half handed to the channel
        (now,) = await daemon.sql(in_flight)
        return len(inbox.messages) >= 30 and now["claimed"] >= 16

    await eventually(mid_batch, within=30, what="30 messages sent and a batch in progress")
    daemon.kill9()
    (left,) = await daemon.sql(in_flight)
    assert left["handed"] > 0, "nothing was in flight at the kill: the test proves nothing"
    assert left["claimed"] > 0, "no claimed message waited at the kill: the test proves less"

    again = await ccd(config=config)
    await _status(again, "big", "completed")
    states = dict(
        (r["state"], r["n"])
        for r in await again.sql("SELECT state, count(*) AS n FROM mailing_messages GROUP BY 1")
    )
    # only those handed to the channel may have gone out: the claimed rest are sent now
    assert states.get("unknown") == left["handed"], (states, left)
    assert states.get("sent", 0) + states["unknown"] == n
    to = [m["To"] for m in inbox.messages]
    assert len(to) == len(set(to)), "a message was sent twice"
    assert len(to) >= states["sent"]  # the unknown ones may or may not have gone out
    assert again.events("mailing.message_unknown")
    assert again.events("mailing.claims_released")
    out = await again.cli("mailing", "status", "big")
    assert re.search(rf"unknown\s*│\s*{left['handed']}\b", out), out
