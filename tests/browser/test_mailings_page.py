"""The supervisor's mailings table in headless Chromium: progress per segment and channel,
following the mailing as its messages go out (the page polls /api/mailings)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from ccd.api.console import ConsoleParts
from ccd.api.mailings_api import MailingsApi
from ccd.api.server import build_app, start_site
from ccd.messaging.planner import plan
from ccd.messaging.spec import MailingSpec
from ccd.store import mailings as store
from ccd.store.users import add_user
from tests.browser.test_console import PASSWORD, browser, pytestmark, shot, sign_in
from tests.dialer.conftest import EngineFactory

pytest_plugins = ["tests.dialer.conftest"]
__all__ = ["browser", "pytestmark"]  # the fixture and the browser markers, shared

SPEC = MailingSpec.model_validate({"variants": [
    {"segment": "seniors", "channels": ["sms"],
     "templates": {"sms": {"text": {"default": "Hi {first_name}"}, "fallback": "Hi"}}},
    {"channels": ["email"], "templates": {"email": {
        "subject": "News", "text": {"default": "Hello"}, "fallback": "Hello"}}},
]})  # fmt: skip


@pytest.fixture
async def base(pool: asyncpg.Pool, make_engine: EngineFactory) -> AsyncIterator[str]:
    engine = await make_engine()
    await add_user(pool, "sofia", PASSWORD, "supervisor", name="Sofia")
    parts = await ConsoleParts.create(pool, engine)
    app = build_app(pool, [*parts.route_adders(), MailingsApi(pool).add_routes])
    runner: web.AppRunner = await start_site(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_supervisor_follows_a_mailing_per_segment_and_channel(
    pool: asyncpg.Pool, base: str, browser: Any
) -> None:
    from playwright.async_api import expect

    await pool.execute(
        "INSERT INTO contacts (phone, email, birth_date) SELECT '+38044100' || lpad(g::text, 4,"
        " '0'), 'c' || g || '@example.com', CASE WHEN g <= 3 THEN date '1940-01-01' END"
        " FROM generate_series(1, 8) g"
    )
    await pool.execute(
        "INSERT INTO consent_events (contact_id, channel, purpose, status, method)"
        " SELECT id, ch, 'marketing', 'opt_in', 'import' FROM contacts, unnest(ARRAY['sms',"
        " 'email']) ch WHERE id <> 8"
    )
    await pool.execute("INSERT INTO segments (name, rules) VALUES ('seniors', $1)", ["age >= 60"])
    async with pool.acquire() as conn:
        mid = await store.create_mailing(conn, "autumn", "marketing", SPEC)
        await store.set_status(conn, "autumn", "running")
    await plan(pool, mid, 14)

    page = await sign_in(browser, base, "sofia")
    rows = page.locator("#mailings tbody tr")
    await expect(rows).to_have_count(3)  # seniors/sms, everyone else/email, left out
    seniors = page.locator("#mailings tbody tr", has_text="seniors")
    await expect(seniors).to_contain_text("autumn")
    await expect(seniors.locator("td").nth(3)).to_have_text("sms")
    await expect(seniors.locator("td").nth(4)).to_have_text("3")  # planned
    await expect(seniors.locator("td").nth(5)).to_have_text("0")  # sent
    left = page.locator("#mailings tbody tr", has_text="(left out)")
    await expect(left.locator("td").nth(8)).to_have_text("1")  # no consent

    # Two seniors' messages go out: the next poll shows it.
    await pool.execute(
        "UPDATE mailing_messages SET state = 'sent', parts = 2 WHERE id IN (SELECT id FROM"
        " mailing_messages WHERE channel = 'sms' ORDER BY id LIMIT 2)"
    )
    await expect(seniors.locator("td").nth(5)).to_have_text("2")
    await expect(seniors.locator("td").nth(10)).to_have_text("4")  # SMS parts
    await page.click("button[data-lang=ru]")
    await expect(page.locator("#mailings thead")).to_contain_text("Отправлено")
    await shot(page, "supervisor-mailings")
