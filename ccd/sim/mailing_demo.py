"""`ccd demo --mailing`: a mailing over the simulated channels, in the daemon of `ccd run`.

The mail relay is a real SMTP server in this process (aiosmtpd) that accepts mail and, like
real relays, refuses a few addresses for good (550). Contacts have a realistic mix of ages,
languages, preferred channels and consent (opt-ins, opt-outs, sign-ups waiting for their
double opt-in); three segments get e-mail with their own texts; a live table follows the
mailing, which ends with its report from SQL.
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
from ccd.messaging.spec import MailingSpec
from ccd.service import Service
from ccd.sim.asterisk import AsteriskDouble
from ccd.sim.demo import DemoOptions, demo_settings, engine_config
from ccd.store import mailings as store
from ccd.store import reports
from ccd.store.db import create_pool
from ccd.store.segments import save_segment

NAME = "demo-offers"
FIRST = ["Olena", "Ivan", "Maria", "Taras", "Oksana", "Petro", "Anna", "Dmytro"]
SEGMENTS = {"seniors": ["age >= 60"], "workers": ["age >= 25", "age < 60"],
            "youth": ["age < 25"]}  # fmt: skip
SPEC = MailingSpec.model_validate({
    "variants": [
        {"segment": s, "channels": ["email"], "templates": {"email": {
            "subject": subject, "fallback": "Dear customer, see our offers for you.",
            "text": {"default": text, "uk": text_uk}}}}
        for s, subject, text, text_uk in [
            ("seniors", "{first_name}, a calmer tariff",
             "Dear {first_name}, your balance is {fields.balance}. Our senior tariff saves 20%.",
             "Шановна(ий) {first_name}, ваш баланс {fields.balance}. Тариф для старших: -20%."),
            ("workers", "{first_name}, more data for less",
             "Hi {first_name}, balance {fields.balance}. Double data this month.",
             "Привіт, {first_name}! Баланс {fields.balance}. Подвійний трафік цього місяця."),
            ("youth", "{first_name}, student deal",
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


def _contacts(n: int, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
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
        roll = rng.random()
        status = (
            "opt_in"
            if roll < 0.7
            else "opt_out"
            if roll < 0.8
            else "pending"
            if roll < 0.9
            else None
        )
        if status:
            consent.append((i, status))
    return rows, consent


async def _setup(pool: asyncpg.Pool, opts: MailingDemoOptions) -> int:
    rows, consent = _contacts(opts.contacts, random.Random(opts.seed))
    async with pool.acquire() as conn, conn.transaction():
        ids = await conn.fetch(
            "INSERT INTO contacts (phone, email, first_name, birth_date, gender, language,"
            " fields) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[],"
            " $5::text[], $6::text[], $7::jsonb[]) RETURNING id",
            *[list(col) for col in zip(*rows, strict=True)],
        )
        await conn.executemany(
            "INSERT INTO consent_events (contact_id, channel, purpose, status, method, proof)"
            " VALUES ($1, 'email', 'marketing', $2, 'import', $3)",
            [(ids[i - 1]["id"], s, {"file": "demo"}) for i, s in consent],
        )
        for name, rules in SEGMENTS.items():
            await save_segment(conn, name, rules)
        return await store.create_mailing(
            conn, NAME, "marketing", SPEC, hours=(dtime(0), dtime.max)
        )


async def _table(pool: asyncpg.Pool, mailing_id: int, elapsed: float) -> Table:
    counts = await store.counts(pool, mailing_id)
    t = Table(title=f"mailing {NAME}, {elapsed:.0f} s")
    for state in ("planned", "sending", "sent", "failed", "unknown", "skipped"):
        t.add_column(state, justify="right")
    t.add_row(*(str(counts.get(s, 0)) for s in ("planned", "sending", "sent", "failed",
                                                 "unknown", "skipped")))  # fmt: skip
    return t


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
    try:
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
            mailing_id = await _setup(service.pool, opts)
            await service.start()
            async with service.pool.acquire() as conn:
                await store.set_status(conn, NAME, "running")
            started = time.monotonic()
            with Live(console=console, refresh_per_second=4) as live:
                while True:
                    elapsed = time.monotonic() - started
                    live.update(await _table(service.pool, mailing_id, elapsed))
                    status = await service.pool.fetchval(
                        "SELECT status FROM mailings WHERE id = $1", mailing_id
                    )
                    if status == "completed" or elapsed > opts.max_seconds:
                        break
                    await asyncio.sleep(0.25)
        finally:
            await service.stop()
        pool = await create_pool(db_url, min_size=1, max_size=2)
        try:
            await _report(pool, console, relay, db_url)
        finally:
            await pool.close()
    finally:
        await double.stop()
        smtp.stop()


async def _report(pool: asyncpg.Pool, console: Console, relay: _Relay, db_url: str) -> None:
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
    console.print(f"The data stays in the database: psql '{db_url}'", highlight=False)
    console.print("  e.g. SELECT * FROM mailing_report;  ccd export messages demo-offers",
                  highlight=False)  # fmt: skip
