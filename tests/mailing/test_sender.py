"""The mailing engine (MailingService, as the daemon runs it) against real PostgreSQL and a
real SMTP server: the e-mail itself, the cap across two mailings and two engines, an opt-out
after planning, pause, permanent and temporary SMTP failures, crash settling."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ccd.config import SmtpRelay
from ccd.messaging import tokens
from ccd.messaging.channel import OutboundMessage, Outcome
from ccd.messaging.email import EmailChannel
from ccd.messaging.planner import plan
from ccd.messaging.sender import MailingService
from ccd.messaging.spec import MailingSpec
from ccd.store import mailings as store
from ccd.store.contacts import record_consent
from tests.dialer.conftest import eventually
from tests.dialer.helpers import free_port
from tests.mailing.conftest import Inbox

SPEC = MailingSpec.model_validate(
    {"variants": [{"channels": ["email"], "templates": {"email": {
        "subject": "News for {first_name}", "text": {"default": "Hello {first_name}"},
        "fallback": "Hello"}}}]}
)  # fmt: skip

ServiceFactory = Callable[..., Awaitable[MailingService]]


@pytest.fixture
async def service(
    pool: asyncpg.Pool, db_url: str, smtp: tuple[Inbox, int]
) -> AsyncIterator[ServiceFactory]:
    started: list[MailingService] = []

    async def make(rate: float = 1000.0, batch: int = 20) -> MailingService:
        relay = SmtpRelay(port=smtp[1], rate_per_s=rate)
        svc = MailingService(
            pool, db_url, {"email": EmailChannel([relay], "ccd@example.com")},
            instance_id=str(uuid.uuid4()), alive=lambda _i: _false(),
            public_url="http://ccd.example:8080", batch=batch, resync_s=0.2, idle_s=0.05,
        )  # fmt: skip
        await svc.start()
        started.append(svc)
        return svc

    try:
        yield make
    finally:
        for svc in started:
            await svc.stop()


async def _false() -> bool:
    return False


async def _contacts(pool: asyncpg.Pool, n: int, *, opt_in: bool = True) -> None:
    await pool.execute(
        "INSERT INTO contacts (email, first_name) SELECT 'p' || g || '@example.com', 'P' || g"
        " FROM generate_series(1, $1) g",
        n,
    )
    if opt_in:
        await pool.execute(
            "INSERT INTO consent_events (contact_id, channel, purpose, status, method)"
            " SELECT id, 'email', 'marketing', 'opt_in', 'import' FROM contacts"
        )


async def _mailing(pool: asyncpg.Pool, name: str, purpose: str = "marketing") -> int:
    async with pool.acquire() as conn:
        return await store.create_mailing(conn, name, purpose, SPEC, hours=_all_day())


def _all_day() -> tuple[object, object]:
    from datetime import time as t

    return (t(0), t.max)


async def _start(pool: asyncpg.Pool, name: str) -> None:
    async with pool.acquire() as conn:
        await store.set_status(conn, name, "running")


async def _completed(pool: asyncpg.Pool, *names: str, within: float = 30.0) -> None:
    async def done() -> bool:
        rows = await pool.fetch("SELECT status FROM mailings WHERE name = ANY($1)", list(names))
        return all(r["status"] == "completed" for r in rows)

    await eventually(done, within=within, what=f"{names} completed")


async def test_email_has_both_parts_and_a_one_click_unsubscribe(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await _contacts(pool, 1, opt_in=False)
    await _mailing(pool, "notice", purpose="service")  # service: no opt-in needed
    await service()
    await _start(pool, "notice")
    await _completed(pool, "notice")
    (mail,) = inbox.to("p1@example.com")
    assert mail["Subject"] == "News for P1"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert plain is not None and html is not None
    row = await pool.fetchrow(
        "SELECT m.id, g.unsubscribe_key FROM mailing_messages m"
        " JOIN mailings g ON g.id = m.mailing_id"
    )
    token = tokens.make(row["unsubscribe_key"], row["id"])
    url = f"http://ccd.example:8080/u/{token}"
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hello P1" in plain.get_content() and url in plain.get_content()
    assert f'href="{url}"' in html.get_content()
    row = await pool.fetchrow("SELECT state, sent_at, provider_id FROM mailing_messages")
    assert row["state"] == "sent" and row["sent_at"] is not None
    assert row["provider_id"] == mail["Message-ID"]


async def test_cap_holds_across_two_mailings_and_two_engines(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    n = 150
    await _contacts(pool, n)
    await _mailing(pool, "a")
    await _mailing(pool, "b")
    await service(batch=7)
    await service(batch=5)
    await _start(pool, "a")
    await _start(pool, "b")
    await _completed(pool, "a", "b", within=60)
    per_address: dict[str, int] = {}
    for m in inbox.messages:
        per_address[m["To"]] = per_address.get(m["To"], 0) + 1
    assert len(per_address) == n
    assert max(per_address.values()) == 1, "a contact got two marketing messages within the cap"
    states = dict(
        await pool.fetch(
            "SELECT coalesce(reason, state), count(*) FROM mailing_messages GROUP BY 1"
        )
    )
    assert states == {"sent": n, "capped": n}


async def test_an_opt_out_after_planning_stops_the_message(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await _contacts(pool, 3)
    mid = await _mailing(pool, "m")
    async with pool.acquire() as conn:
        assert await plan(pool, mid, 14) == 3
        cid = await conn.fetchval("SELECT id FROM contacts WHERE email = 'p2@example.com'")
        await record_consent(conn, cid, ["email"], "marketing", "opt_out", "agent", {"by": "x"})
    await service()
    await _start(pool, "m")
    await _completed(pool, "m")
    assert sorted(m["To"] for m in inbox.messages) == ["p1@example.com", "p3@example.com"]
    assert (
        await pool.fetchval("SELECT reason FROM mailing_messages WHERE contact_id = $1", cid)
        == "opted_out"
    )


async def test_pause_stops_sending_within_a_second_and_start_resumes(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    await _contacts(pool, 120)
    await _mailing(pool, "slow")
    await service(rate=40.0, batch=10)
    await _start(pool, "slow")
    await eventually(lambda: _at_least(inbox, 20), within=20, what="20 sent")
    paused_at = time.monotonic()
    async with pool.acquire() as conn:
        await store.set_status(conn, "slow", "paused")
    await asyncio.sleep(1.0)
    after_one_second = len(inbox.messages)
    await asyncio.sleep(1.0)
    assert len(inbox.messages) == after_one_second, "still sending a second after the pause"
    assert time.monotonic() - paused_at >= 2.0
    assert after_one_second < 120
    assert (
        await pool.fetchval("SELECT count(*) FROM mailing_messages WHERE state = 'sending'") == 0
    )  # claimed but unsent went back to planned
    await _start(pool, "slow")
    await _completed(pool, "slow", within=30)
    assert len(inbox.messages) == 120
    assert len({m["To"] for m in inbox.messages}) == 120  # nobody twice


async def _at_least(inbox: Inbox, n: int) -> bool:
    return len(inbox.messages) >= n


async def test_permanent_failure_marks_the_address_bad_and_4xx_is_retried_later(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    inbox.refuse.add("p1@example.com")
    inbox.busy.add("p2@example.com")
    await _contacts(pool, 3)
    await _mailing(pool, "m")
    await service()
    await _start(pool, "m")

    async def settled() -> bool:
        return await pool.fetchval(
            "SELECT planned_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM mailing_messages"
            " WHERE state IN ('planned', 'sending') AND not_before <= now()) FROM mailings"
        )

    await eventually(settled, within=20, what="all sent or deferred")
    rows = {
        r["email"]: (r["state"], r["reason"], r["email_bad_at"] is not None, r["later"])
        for r in await pool.fetch(
            "SELECT c.email, m.state, m.reason, c.email_bad_at, m.not_before > now() AS later"
            " FROM mailing_messages m JOIN contacts c ON c.id = m.contact_id"
        )
    }
    assert rows["p1@example.com"][:3] == ("failed", rows["p1@example.com"][1], True)
    assert "550" in rows["p1@example.com"][1]
    assert rows["p2@example.com"][0] == "planned" and rows["p2@example.com"][3]
    assert "451" in rows["p2@example.com"][1]
    assert rows["p3@example.com"][0] == "sent"
    # The failed and the deferred message gave the contact's cap back.
    assert await pool.fetchval("SELECT count(*) FROM contact_marketing") == 1


async def test_messages_a_dead_process_left_sending_become_unknown_and_are_not_resent(
    pool: asyncpg.Pool, service: ServiceFactory, smtp: tuple[Inbox, int]
) -> None:
    """Of the messages a dead process claimed, those it had handed to a channel are unknown
    and never sent again; those it had not handed over yet go out once."""
    inbox, _ = smtp
    await _contacts(pool, 6)
    mid = await _mailing(pool, "m")
    async with pool.acquire() as conn:
        await plan(pool, mid, 14)
        mailing = await store.load_mailing(conn, mid)
        # A process claimed three messages, handed two to its channel, then died (its
        # instance lock is gone).
        dead = await store.claim(conn, mailing, "dead-instance", 3, 14)
        for d in dead[:2]:
            assert await store.hand_over(conn, d.id) is not None
    assert len(dead) == 3
    await _start(pool, "m")
    await service()
    await _completed(pool, "m")
    states = dict(await pool.fetch("SELECT state, count(*) FROM mailing_messages GROUP BY 1"))
    assert states == {"sent": 4, "unknown": 2}
    sent_to = [m["To"] for m in inbox.messages]
    assert len(sent_to) == len(set(sent_to)) == 4
    assert not set(sent_to) & {d.address for d in dead[:2]}
    assert dead[2].address in sent_to
    # its cap row was given back and taken again, once: one row per contact sent to
    assert await pool.fetchval("SELECT count(*) FROM contact_marketing") == 6
    attempts = await pool.fetchval("SELECT attempts FROM mailing_messages WHERE id = $1",
                                   dead[2].id)  # fmt: skip
    assert attempts == 1


async def test_sending_hours_are_the_contacts_local_time(pool: asyncpg.Pool) -> None:
    from datetime import UTC, datetime, timedelta
    from datetime import time as t

    start = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    await pool.execute(
        "INSERT INTO contacts (email, first_name, time_zone) VALUES"
        " ('utc@example.com', 'U', 'UTC'), ('tokyo@example.com', 'T', 'Asia/Tokyo'),"
        " ('none@example.com', 'N', NULL)"
    )
    async with pool.acquire() as conn:
        mid = await store.create_mailing(
            conn, "m", "service", SPEC, hours=(start.time(), t((start.hour + 1) % 24)),
            time_zone="UTC",
        )  # fmt: skip
    await plan(pool, mid, 14)
    due = {
        r["email"]: r["not_before"]
        for r in await pool.fetch(
            "SELECT c.email, m.not_before FROM mailing_messages m"
            " JOIN contacts c ON c.id = m.contact_id"
        )
    }
    assert due["utc@example.com"] == start  # the window opens in 2 hours, UTC
    assert due["none@example.com"] == start  # unknown zone: the mailing's
    # Tokyo is UTC+9 all year: the same wall-clock window opens 9 hours earlier (mod a day).
    gap = (due["utc@example.com"] - due["tokyo@example.com"]) % timedelta(days=1)
    assert gap == timedelta(hours=9)


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "relay.pem", tmp / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the relay's cert")
async def test_starttls_and_login_to_a_relay_that_requires_both(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    logins: list[tuple[str, str]] = []

    def check(server: object, session: object, envelope: object, mechanism: str,
              auth: Any) -> AuthResult:  # fmt: skip
        logins.append((auth.login.decode(), auth.password.decode()))
        return AuthResult(success=auth.password == b"s3cret")

    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, auth_required=True,
                            authenticator=check)  # fmt: skip
    controller.start()
    try:
        relays = {
            "good": SmtpRelay(port=port, starttls=True, ca_file=cert, username="ccd",
                              password="s3cret"),
            "plain": SmtpRelay(port=port, username="ccd", password="s3cret"),
        }  # fmt: skip
        for name, relay in relays.items():
            channel = EmailChannel([relay], "ccd@example.com")
            result = await channel.send(OutboundMessage(1, "email", f"{name}@example.com",
                                                        "Hello", subject="Hi"))  # fmt: skip
            await channel.close()
            if name == "good":
                assert result.outcome is Outcome.SENT, result
            else:  # no STARTTLS: the relay refuses the login, nothing is sent
                assert result.outcome is Outcome.RETRY and "STARTTLS" in (result.reason or "")
    finally:
        controller.stop()
    assert [m["To"] for m in inbox.messages] == ["good@example.com"]
    assert logins == [("ccd", "s3cret")]


async def test_messages_spread_over_relays_each_under_its_rate_limit() -> None:
    servers = [(Inbox(), free_port()) for _ in range(2)]
    controllers = [Controller(i, hostname="127.0.0.1", port=p) for i, p in servers]
    for c in controllers:
        c.start()
    try:
        channel = EmailChannel(
            [SmtpRelay(port=p, rate_per_s=10, connections=4) for _, p in servers], "ccd@x.org"
        )
        started = time.monotonic()
        results = await asyncio.gather(*(
            channel.send(OutboundMessage(i, "email", f"r{i}@example.com", "Hi", subject="Hi"))
            for i in range(30)
        ))  # fmt: skip
        elapsed = time.monotonic() - started
        await channel.close()
    finally:
        for c in controllers:
            c.stop()
    assert all(r.outcome is Outcome.SENT for r in results)
    assert [len(i.messages) for i, _ in servers] == [15, 15]
    # 15 sends on a relay at 10 a second: the last starts 1.4 s after the first, at least.
    assert elapsed >= 1.4, elapsed
