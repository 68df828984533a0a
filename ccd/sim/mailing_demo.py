"""`ccd demo --mailing`: a mailing over the simulated channels, in the daemon of `ccd run`.

The mail relay is a real SMTP server in this process (aiosmtpd) that accepts mail and, like
real relays, refuses a few addresses for good (550). The SMS center is the SMSC double (a real
SMPP server in this process, as the Asterisk double is a real ARI/AMI server), added as an
SMSC link for the run: it delivers most messages, reports a few numbers undeliverable and a
few expired. Contacts have a realistic mix of ages, languages and consent per channel
(opt-ins, opt-outs, sign-ups waiting for their double opt-in); seniors and youth get SMS,
workers e-mail (else SMS), each segment its own texts; a live table follows the mailing until
its receipts are in, and it ends with its report from SQL, SMS parts included.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as dtime
from typing import Any

import asyncpg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ccd.config import Settings, SmtpRelay
from ccd.messaging.sms.receipts import DeliveryState
from ccd.messaging.sms.settings import LinkSettings
from ccd.messaging.spec import MailingSpec
from ccd.service import Service
from ccd.sim.asterisk import AsteriskDouble
from ccd.sim.demo import DemoOptions, demo_settings, engine_config
from ccd.sim.smsc.double import ReceiptRule, SmscDouble
from ccd.store import mailings as store
from ccd.store import reports, smsc
from ccd.store.db import AnyConnection, create_pool
from ccd.store.segments import save_segment

NAME = "demo-offers"
FIRST = ["Olena", "Ivan", "Maria", "Taras", "Oksana", "Petro", "Anna", "Dmytro"]
SEGMENTS = {"seniors": ["age >= 60"], "workers": ["age >= 25", "age < 60"],
            "youth": ["age < 25"]}  # fmt: skip
SMSC_LINK = "demo-smsc"
SMSC_ACCOUNT = ("demo", "demo")
# Receipts by number: +38044000001x undeliverable, +38044000002x no delivery in time.
RECEIPTS = {"38044000001": DeliveryState.UNDELIVERABLE, "38044000002": DeliveryState.EXPIRED}
SPEC = MailingSpec.model_validate({
    "variants": [
        {"segment": s, "channels": channels, "templates": {
            "email": {"subject": subject, "fallback": "Dear customer, see our offers for you.",
                      "text": {"default": text, "uk": text_uk}},
            "sms": {"fallback": "Dear customer, new offers for you: reply INFO.",
                    "text": {"default": text, "uk": text_uk}},
        }}
        for s, channels, subject, text, text_uk in [
            ("seniors", ["sms"], "{first_name}, a calmer tariff",
             "Dear {first_name}, your balance is {fields.balance}. Our senior tariff saves 20%.",
             "Шановна(ий) {first_name}, ваш баланс {fields.balance} грн. Тариф для старших "
             "заощаджує 20% щомісяця: відповідайте ТАК, і ми перейдемо на нього з понеділка."),
            ("workers", ["email", "sms"], "{first_name}, more data for less",
             "Hi {first_name}, balance {fields.balance}. Double data this month.",
             "Привіт, {first_name}! Баланс {fields.balance}. Подвійний трафік цього місяця."),
            ("youth", ["sms"], "{first_name}, student deal",
             "Hey {first_name}! Student deal: 50% off.", "Привіт, {first_name}! Знижка 50%."),
        ]
    ],
    "confirmation": {"email": {"subject": "Please confirm", "fallback": "Confirm: {confirm_url}",
                               "text": {"default": "Confirm our news: {confirm_url}"}}},
})  # fmt: skip


class _Relay:
    """The simulated mail relay: accepts, except for addresses it refuses for good."""

    def __init__(self) -> None:
        self.accepted = 0

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("gone."):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.accepted += 1
        return "250 OK"


@dataclass(frozen=True)
class MailingDemoOptions:
    contacts: int = 2000
    max_seconds: float = 60.0
    seed: int = 11


def _consent(rng: random.Random) -> str | None:
    roll = rng.random()
    return "opt_in" if roll < 0.7 else "opt_out" if roll < 0.8 else "pending" if roll < 0.9 \
        else None  # fmt: skip


def _contacts(n: int, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Contact rows and their marketing consent as (contact number, channel, status)."""
    rows, consent = [], []
    today = date.today()
    for i in range(1, n + 1):
        age = rng.choice([rng.randint(16, 24), rng.randint(25, 59), rng.randint(60, 90)])
        email = f"{'gone.' if rng.random() < 0.03 else ''}c{i}@example.com"
        rows.append((
            f"+38044{i:07d}", email if rng.random() < 0.85 else None, rng.choice(FIRST),
            today - timedelta(days=365 * age + rng.randint(0, 364)), rng.choice("fm"),
            rng.choice(["uk", "uk", "en"]),
            {"balance": f"{rng.randint(0, 900)}.{rng.randint(0, 99):02d}"}
            if rng.random() < 0.9 else {},
        ))  # fmt: skip
        for channel in ("email", "sms"):
            status = _consent(rng)
            if status and not (channel == "sms" and status == "pending"):
                consent.append((i, channel, status))
    return rows, consent


async def _setup(conn: AnyConnection, opts: MailingDemoOptions, smsc_port: int) -> int:
    """Contacts, consent, segments, the mailing, and the SMSC double as an SMSC link (in
    place of one a run before left)."""
    rows, consent = _contacts(opts.contacts, random.Random(opts.seed))
    async with conn.transaction():
        await conn.execute("DELETE FROM smsc_links WHERE name = $1", SMSC_LINK)
        await smsc.add_link(conn, LinkSettings(
            name=SMSC_LINK, host="127.0.0.1", port=smsc_port, system_id=SMSC_ACCOUNT[0],
            password=SMSC_ACCOUNT[1], source_addr="DemoTel", window=20,
        ))  # fmt: skip
        ids = await conn.fetch(
            "INSERT INTO contacts (phone, email, first_name, birth_date, gender, language,"
            " fields) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[],"
            " $5::text[], $6::text[], $7::jsonb[]) RETURNING id",
            *[list(col) for col in zip(*rows, strict=True)],
        )
        await conn.executemany(
            "INSERT INTO consent_events (contact_id, channel, purpose, status, method, proof)"
            " VALUES ($1, $2, 'marketing', $3, 'import', $4)",
            [(ids[i - 1]["id"], ch, s, {"file": "demo"}) for i, ch, s in consent],
        )
        for name, rules in SEGMENTS.items():
            await save_segment(conn, name, rules)
        return await store.create_mailing(
            conn, NAME, "marketing", SPEC, hours=(dtime(0), dtime.max)
        )


STATES = ("planned", "sending", "sent", "delivered", "failed", "expired", "unknown", "skipped")


async def _table(pool: asyncpg.Pool, mailing_id: int, elapsed: float) -> Table:
    counts = await store.counts(pool, mailing_id)
    t = Table(title=f"mailing {NAME}, {elapsed:.0f} s")
    for state in STATES:
        t.add_column(state, justify="right")
    t.add_row(*(str(counts.get(s, 0)) for s in STATES))
    return t


async def _settled(pool: asyncpg.Pool, mailing_id: int) -> bool:
    """Completed, and no SMS still waits for its receipt."""
    return bool(await pool.fetchval(
        "SELECT status = 'completed' AND NOT EXISTS (SELECT 1 FROM mailing_messages"
        " WHERE mailing_id = $1 AND channel = 'sms' AND state = 'sent')"
        " FROM mailings WHERE id = $1",
        mailing_id,
    ))  # fmt: skip


async def run_mailing_demo(
    settings: Settings, db_url: str, opts: MailingDemoOptions, console: Console
) -> None:
    relay = _Relay()
    with socket.socket() as s:  # a free port (the controller checks it by connecting)
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    smtp = Controller(relay, hostname="127.0.0.1", port=port)
    smtp.start()
    double = AsteriskDouble()
    await double.start()
    smsc_double = SmscDouble(accounts=dict([SMSC_ACCOUNT]))
    smsc_double.rules[""] = ReceiptRule(DeliveryState.DELIVERED, delay=0.3)
    for prefix, state in RECEIPTS.items():
        smsc_double.rules[prefix] = ReceiptRule(state, delay=0.5)
    await smsc_double.start()
    try:
        setup = await create_pool(db_url, min_size=1, max_size=1)
        try:
            async with setup.acquire() as conn:
                mailing_id = await _setup(conn, opts, smsc_double.port)
        finally:
            await setup.close()
        ours = demo_settings(settings, double)
        mailing = ours.mailing.model_copy(update={
            "smtp": [SmtpRelay(port=port, connections=4, rate_per_s=400)],
            "from_address": "Demo Telecom <offers@demo.example>",
        })  # fmt: skip
        service = await Service.create(
            ours.model_copy(update={"mailing": mailing}), db_url, engine_config(DemoOptions()),
            flows=dict,
        )  # fmt: skip
        try:
            await service.start()
            async with service.pool.acquire() as conn:
                await store.set_status(conn, NAME, "running")
            started = time.monotonic()
            with Live(console=console, refresh_per_second=4) as live:
                while True:
                    elapsed = time.monotonic() - started
                    live.update(await _table(service.pool, mailing_id, elapsed))
                    if await _settled(service.pool, mailing_id) or elapsed > opts.max_seconds:
                        break
                    await asyncio.sleep(0.25)
        finally:
            await service.stop()
        pool = await create_pool(db_url, min_size=1, max_size=2)
        try:
            # the double goes with the demo: a later `ccd run` must not bind to it
            await pool.execute("DELETE FROM smsc_links WHERE name = $1", SMSC_LINK)
            await _report(pool, console, relay, smsc_double, db_url)
        finally:
            await pool.close()
    finally:
        await smsc_double.stop()
        await double.stop()
        smtp.stop()


async def _report(
    pool: asyncpg.Pool, console: Console, relay: _Relay, smsc_double: SmscDouble, db_url: str
) -> None:
    async with pool.acquire() as conn:
        report = await reports.mailing_summary(conn, NAME)
        left = await store.left_out(conn, await reports.mailing_id(conn, NAME))
    console.print()
    t = Table(title=f"mailing report: {NAME} (per segment and channel)")
    for c in report.columns:
        t.add_column(c, justify="left" if c in ("segment", "channel") else "right")
    for row in report.rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)
    console.print("left out: " + ", ".join(f"{k} {v}" for k, v in left.items()), highlight=False)
    console.print(f"the simulated relay accepted {relay.accepted} e-mails", highlight=False)
    console.print(f"the simulated SMSC took {len(smsc_double.submits)} SMS parts and sent "
                  f"{smsc_double.receipts_sent} receipts", highlight=False)  # fmt: skip
    console.print(f"The data stays in the database: psql '{db_url}'", highlight=False)
    console.print("  e.g. SELECT * FROM mailing_report;  ccd export messages demo-offers",
                  highlight=False)  # fmt: skip
