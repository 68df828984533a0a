"""The managers' SMS inbox page in headless Chromium: a manager signs in and lands on it, a
customer's SMS from the SMSC double appears live, the manager opens it (with the contact's
history and their marketing consent: opted out by STOP), replies (the double receives the
SMS), takes it and marks it done; a filter by code; a supervisor reaches the page from the
wallboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from ccd.api.console import ConsoleParts
from ccd.api.inbox_api import InboxApi
from ccd.api.server import build_app, start_site
from ccd.messaging.inbox import SmsInbox
from ccd.messaging.sms.channel import SmsChannel
from ccd.sim.smsc.double import SmscDouble
from ccd.store.sms_keywords import add_keyword
from ccd.store.users import add_user
from tests.browser.test_console import PASSWORD, browser, pytestmark, shot, sign_in
from tests.dialer.conftest import EngineFactory, eventually
from tests.sms.conftest import link, no_reports, smsc

pytest_plugins = ["tests.dialer.conftest"]
__all__ = ["browser", "pytestmark", "smsc"]  # the fixtures and the browser markers, shared


@pytest.fixture
async def base(
    pool: asyncpg.Pool, make_engine: EngineFactory, smsc: SmscDouble
) -> AsyncIterator[str]:
    engine = await make_engine()
    await add_user(pool, "olga", PASSWORD, "manager", name="Olga")
    await add_user(pool, "sofia", PASSWORD, "supervisor", name="Sofia")
    parts = await ConsoleParts.create(pool, engine)
    sms = SmsChannel([link(smsc.port)])
    inbox = SmsInbox(pool, sms.send_text, parts.hub.push_to_inbox)
    sms.set_inbound(inbox.accept)
    sms.set_replies(inbox.reply_report)
    await inbox.start()
    await sms.start(no_reports)
    await sms.gateway.links["a"].wait_bound(5)
    app = build_app(pool, [*parts.route_adders(), InboxApi(pool, inbox, parts.hub).add_routes])
    runner: web.AppRunner = await start_site(app, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()
    await sms.close()
    await inbox.close()


async def test_a_manager_answers_a_customers_sms_from_the_inbox_page(
    pool: asyncpg.Pool, base: str, browser: Any, smsc: SmscDouble
) -> None:
    from playwright.async_api import expect

    await add_keyword(pool, "ЗАКАЗ", reply=None, assign="inbox", consent=None)
    await pool.execute("INSERT INTO contacts (phone, first_name) VALUES ('+79161234567', 'Анна')")
    smsc.inject_mo("79031112233", "7333", "VOTE 3")  # before the page: loaded by the list

    page = await sign_in(browser, base, "olga")
    await expect(page).to_have_url(base + "/console/inbox.html")
    await expect(page.locator("#link")).to_have_text("live")
    rows = page.locator("#inbox tbody tr")
    await expect(rows).to_have_count(1)
    await expect(page.locator("#to-wallboard")).to_be_hidden()

    # New messages appear without a reload: Anna unsubscribes, then asks about her order.
    smsc.inject_mo("79161234567", "7333", "стоп")
    await expect(rows).to_have_count(1)  # answered by the STOP rule: not open
    smsc.inject_mo("79161234567", "7333", "Заказ 4521: когда привезёте?")
    await expect(rows).to_have_count(2)
    row = rows.filter(has_text="Заказ 4521")
    await expect(row).to_contain_text("Анна (+79161234567)")
    await expect(row.locator("td").nth(2)).to_have_text("ЗАКАЗ")
    await expect(row.locator("td").nth(4)).to_have_text("new")

    await row.click()
    card = page.locator("#message-card")
    await expect(card).to_be_visible()
    await expect(page.locator("#m-text")).to_have_text("Заказ 4521: когда привезёте?")
    await expect(page.locator("#m-consent")).to_have_text("marketing SMS: opted out")
    await page.fill("#reply-text", "Завтра с 10 до 14.")
    await page.click("#reply-form button[type=submit]")
    await expect(page.locator("#flash")).to_contain_text("Reply sent (1 SMS)")

    async def delivered() -> bool:
        return any(s.destination == "79161234567" and s.as_json()["text"] == "Завтра с 10 до 14."
                   for s in smsc.submits)  # fmt: skip

    await eventually(delivered, 10, "the reply at the SMSC")
    # STOP, its confirmation, the question and the answer (an opted-out customer's question
    # is answered all the same)
    await expect(page.locator("#m-history li")).to_have_count(4)
    # the reply's receipt (DELIVRD from the double) is pushed and shown
    await expect(page.locator("#m-history li").first).to_contain_text(
        "→ Завтра с 10 до 14. · delivered"
    )

    await page.click("#m-assign")
    await expect(row.locator("td").nth(5)).to_have_text("olga")
    await page.click("#m-done")
    await expect(row.locator("td").nth(4)).to_have_text("done")
    await expect(page.locator("#m-done")).to_be_disabled()
    status = await pool.fetchval("SELECT status FROM sms_inbound WHERE keyword = 'ЗАКАЗ'")
    assert status == "done"

    await page.fill("#f-code", "заказ")
    await page.select_option("#f-status", "")
    await page.click("#inbox-filter button[type=submit]")
    await expect(rows).to_have_count(1)
    await page.click("button[data-lang=ru]")
    await expect(page.locator("#inbox thead")).to_contain_text("Получено")
    await shot(page, "manager-inbox")

    sup = await sign_in(browser, base, "sofia")
    await expect(sup).to_have_url(base + "/console/supervisor.html")
    await sup.click("a[href='inbox.html']")
    await expect(sup).to_have_url(base + "/console/inbox.html")
    await expect(sup.locator("#to-wallboard")).to_be_visible()
