"""The web console in headless Chromium against ccd on the Asterisk double.

An agent signs in, starts the shift, sees the due contact in red, dials it and talks; a
supervisor sees that on the wallboard, starts a listen session and sends a pop-up; the agent
reads it, the call ends and the agent sets a CALLBACK with the date picker. Screenshots go to
test-artifacts/browser/.

Debian's chromium is driven by Playwright from PyPI (never `playwright install`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright, expect

from ccd.api.agent_api import AgentApi
from ccd.api.console import ConsoleParts
from ccd.api.live import CallLive, LiveHub
from ccd.api.server import build_app, start_site
from ccd.dialer.daemon import Engine
from ccd.domain.agents import AgentState
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from ccd.store.users import add_user
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones

if TYPE_CHECKING:
    from tests.inbound.desk import Desk

pytest_plugins = ["tests.dialer.conftest", "tests.inbound.desk"]

CHROMIUM = os.environ.get("CCD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PASSWORD = "correct horse"
SUP_PHONE = "7002"

# The only skip of the suite: a machine without Chromium (Playwright comes with the dev extra).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CCD_CHROMIUM)",
    ),
]


@dataclass
class Console:
    base: str
    engine: Engine
    double: AsteriskDouble
    hub: LiveHub
    campaign_id: int
    agent_id: int
    due_phone: str
    later_phone: str


def publish_agent(c: Console) -> None:
    """What the engine's agent service is to tell the hub on every state change."""
    s = c.engine.agents.session(c.agent_id)
    assert s is not None
    c.hub.agent_changed(c.agent_id, state=s.state.value, since=datetime.now(UTC), reason=s.reason)


def publish_call(c: Console, attempt_id: str, *, ended: bool = False) -> None:
    """What the engine's call manager is to tell the hub when a call is bridged / ends."""
    if ended:
        c.hub.call_ended(attempt_id)
        return
    live = c.engine.calls.find(attempt_id)
    assert live is not None
    c.hub.call_started(
        CallLive(attempt_id, c.agent_id, live.campaign.id, live.lead.lead_id, live.lead.phone,
                 live.answered_at or datetime.now(UTC), "outbound", live.lead.name)
    )  # fmt: skip


@pytest.fixture
async def console(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> AsyncIterator[Console]:
    engine = await make_engine()
    await add_trunk(pool)
    cid = await make_campaign(pool, name="Loans", mode="MANUAL")
    due_phone, later_phone = phones(2)
    for number in (due_phone, later_phone):
        double.program(number, FarEnd.answer(after=0.3, hangup_after=None))
    double.program(SUP_PHONE, FarEnd.answer(after=0.1, hangup_after=None))
    due, later = await add_leads(pool, cid, [due_phone, later_phone])
    await pool.execute("UPDATE leads SET name = 'Ivan Petrov' WHERE id = $1", due)
    await pool.execute(
        "UPDATE leads SET name = 'Olga Smirnova', next_attempt_at = $2 WHERE id = $1",
        later, datetime.now(UTC) + timedelta(days=1),
    )  # fmt: skip
    agent_id, _ = await add_agent(pool, "anna", "Anna Ivanova", "PJSIP/agent101", (cid,))
    await add_user(pool, "anna", PASSWORD, "agent", name="Anna Ivanova", agent_id=agent_id)
    await add_user(pool, "sofia", PASSWORD, "supervisor", name="Sofia",
                   endpoint=f"Local/{SUP_PHONE}@sim-pstn")  # fmt: skip
    await start_campaign(pool, "Loans")
    parts = await ConsoleParts.create(pool, engine)
    app = build_app(pool, [AgentApi(engine).add_routes, *parts.route_adders()])
    runner: web.AppRunner = await start_site(app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    yield Console(f"http://127.0.0.1:{port}", engine, double, parts.hub, cid, agent_id,
                  due_phone, later_phone)  # fmt: skip
    for s in parts.spy.sessions():
        await parts.spy.stop(s.id)
    await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def sign_in(browser: Any, base: str, login: str) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 800}, locale="en-GB")
    page = await context.new_page()
    await page.goto(base + "/")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    return page


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def state_is(c: Console, state: AgentState) -> bool:
    s = c.engine.agents.session(c.agent_id)
    return s is not None and s.state is state


async def test_agent_and_supervisor_day(pool: asyncpg.Pool, console: Console, browser: Any) -> None:
    c = console
    # --- the agent signs in and starts the shift ---
    agent = await sign_in(browser, c.base, "anna")
    await expect(agent).to_have_url(c.base + "/console/agent.html")
    await expect(agent.locator("#who")).to_have_text("Anna Ivanova")
    await expect(agent.locator("#link")).to_have_text("live")
    await agent.click("#start-shift")
    await eventually(lambda: state_is(c, AgentState.READY), what="agent READY")
    publish_agent(c)
    await expect(agent.locator("#state")).to_have_text("Ready")
    # The MANUAL worklist: the contact whose time has come is red, the other is not.
    due_row = agent.locator("#worklist tr.due")
    await expect(due_row).to_have_count(1)
    await expect(due_row).to_contain_text(c.due_phone)
    await expect(agent.locator("#worklist tbody tr")).to_have_count(2)
    # A retrying assertion: the worklist re-renders on live updates, and a row read just as
    # it is replaced is detached (its computed style is empty).
    await expect(due_row.locator("td").first).to_have_css("background-color", "rgb(253, 236, 234)")
    await shot(agent, "01-agent-ready-worklist")

    # --- the agent dials the due contact and talks ---
    await due_row.locator("button.dial").click()
    await eventually(lambda: state_is(c, AgentState.TALKING), what="agent TALKING")
    session = c.engine.agents.session(c.agent_id)
    assert session is not None and session.attempt_id is not None
    attempt_id = session.attempt_id
    publish_agent(c)
    publish_call(c, attempt_id)
    await expect(agent.locator("#state")).to_have_text("Talking")
    await expect(agent.locator("#c-phone")).to_have_text(c.due_phone)
    await expect(agent.locator("#c-name")).to_have_text("Ivan Petrov")
    await expect(agent.locator("#c-campaign")).to_have_text("Loans")
    await shot(agent, "02-agent-on-call")

    # --- the supervisor sees it on the wallboard and listens in ---
    sup = await sign_in(browser, c.base, "sofia")
    await expect(sup).to_have_url(c.base + "/console/supervisor.html")
    row = sup.locator(f'#agents tr[data-agent="{c.agent_id}"]')
    await expect(row).to_contain_text("Talking")
    await expect(sup.locator(f'#calls tr[data-call="{attempt_id}"]')).to_contain_text("anna")
    await expect(sup.locator("#counters tbody tr")).to_contain_text("Loans")
    mark = len(c.double.requests)
    await row.locator("button.spy.listen").click()
    await expect(sup.locator("#spy-card")).to_be_visible()
    await expect(sup.locator("#spy-mode")).to_have_text("Listen")
    await expect(sup.locator("#spy-state")).to_have_text("")
    snoops = [r for r in c.double.requests[mark:] if r.method == "POST" and "/snoop" in r.path]
    assert len(snoops) == 1 and snoops[0].path.startswith(f"/ari/channels/{session.leg_id}/snoop")
    assert (snoops[0].query["spy"], snoops[0].query["whisper"]) == ("both", "none")
    await shot(sup, "03-supervisor-wallboard-listening")

    # --- a pop-up message reaches the agent at once ---
    await sup.fill("#msg-body", "Offer the 12-month plan")
    await sup.locator("#msg-form button[type=submit]").click()
    await expect(agent.locator("#popup")).to_be_visible()
    await expect(agent.locator("#popup-body")).to_have_text("Offer the 12-month plan")
    await expect(agent.locator("#popup-title")).to_have_text("Message from Sofia")
    await shot(agent, "04-agent-popup")
    await agent.click("#popup-ok")
    await expect(agent.locator("#popup")).to_be_hidden()
    await expect(sup.locator("#sent li").first).to_contain_text("read")
    read_at = await pool.fetchval("SELECT read_at FROM messages WHERE agent_id = $1", c.agent_id)
    assert read_at is not None

    # --- the customer hangs up; the listen session ends; the agent sets a CALLBACK ---
    await c.double.hangup_far_end(attempt_id)
    await eventually(lambda: state_is(c, AgentState.WRAP_UP), what="agent WRAP_UP")
    publish_call(c, attempt_id, ended=True)
    publish_agent(c)
    await expect(sup.locator("#spy-card")).to_be_hidden()
    await expect(agent.locator("#state")).to_have_text("Wrap-up")
    await agent.click('#dispositions button[data-dispo="CALLBACK"]')
    await expect(agent.locator("#flash")).to_have_text("Pick the date and time to call back")
    callback = (datetime.now() + timedelta(days=2)).replace(hour=11, minute=30, second=0)
    await agent.fill("#callback-at", callback.strftime("%Y-%m-%dT%H:%M"))
    await agent.fill("#note", "asked to call on Wednesday")
    await shot(agent, "05-agent-callback-picker")
    await agent.click('#dispositions button[data-dispo="CALLBACK"]')
    await eventually(lambda: state_is(c, AgentState.READY), what="agent READY after disposition")
    row_db = await pool.fetchrow(
        "SELECT disposition, disposition_source, callback_at, note FROM attempts WHERE id = $1",
        attempt_id,
    )
    assert (row_db["disposition"], row_db["disposition_source"]) == ("CALLBACK", "agent")
    assert row_db["note"] == "asked to call on Wednesday"
    # The browser ran in the machine's zone; the picked local time arrives as that instant.
    assert row_db["callback_at"] == callback.astimezone(UTC).replace(microsecond=0)
    publish_agent(c)
    await expect(agent.locator("#state")).to_have_text("Ready")
    await expect(agent.locator("#contact-empty")).to_be_visible()
    await shot(agent, "06-agent-after-disposition")

    # --- the language switch ---
    await agent.click('.lang button[data-lang="ru"]')
    await expect(agent.locator("#state")).to_have_text("Готов")
    await expect(agent.locator("h2[data-i18n=worklist]")).to_have_text("Список контактов")
    await shot(agent, "07-agent-russian")
    await sup.click('.lang button[data-lang="ru"]')
    await expect(sup.locator("h2[data-i18n=agents]")).to_have_text("Операторы")
    await shot(sup, "08-supervisor-russian")


async def test_wrong_password_and_role_pages(console: Console, browser: Any) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(console.base + "/console/index.html")
    await page.fill("#login", "anna")
    await page.fill("#password", "not the password")
    await page.click("#sign-in")
    await expect(page.locator("#flash")).to_have_text("Wrong login or password")
    await shot(page, "00-login-failed")
    # An agent who opens the supervisor page is sent to their own.
    agent = await sign_in(browser, console.base, "anna")
    await expect(agent).to_have_url(console.base + "/console/agent.html")
    await agent.goto(console.base + "/console/supervisor.html")
    await expect(agent).to_have_url(console.base + "/console/agent.html")


async def test_agent_console_shows_an_inbound_caller(
    pool: asyncpg.Pool, desk: Desk, browser: Any
) -> None:
    """The inbound caller in the agent's console, with the disposition buttons an inbound call
    takes; a supervisor's wallboard has the call as an inbound row. Nothing is published by
    hand here: the desk is wired as ccd run is (EngineFeed and InboundFeed into the hub)."""
    d = desk
    agent = await sign_in(browser, d.base, "anna")
    await expect(agent).to_have_url(d.base + "/console/agent.html")
    await expect(agent.locator("#link")).to_have_text("live")
    await agent.click("#start-shift")
    await expect(agent.locator("#state")).to_have_text("Ready")
    sup = await sign_in(browser, d.base, "sofia")
    await expect(sup).to_have_url(d.base + "/console/supervisor.html")

    call = await d.call_in()
    await d.state(AgentState.TALKING)
    await expect(agent.locator("#contact-body")).to_be_visible()
    await expect(agent.locator("#c-phone")).to_have_text(d.caller)
    await expect(agent.locator("#c-name")).to_have_text("Ivan Petrov")
    await expect(agent.locator("#c-direction")).to_have_text(
        "Inbound · queue support · dialled 5550013"
    )
    await expect(agent.locator("#c-campaign")).to_be_hidden()
    buttons = agent.locator("#dispositions button")
    await expect(buttons).to_have_count(2)
    await expect(buttons.nth(0)).to_have_attribute("data-dispo", "END")
    await expect(buttons.nth(1)).to_have_attribute("data-dispo", "CALLBACK")
    row = sup.locator(f'#calls tr[data-call="{call}"]')
    await expect(row).to_have_attribute("data-direction", "inbound")
    await expect(row).to_contain_text(f"Ivan Petrov {d.caller} (inbound)")
    await shot(agent, "09-agent-inbound-caller")
    await shot(sup, "10-supervisor-inbound-call")

    await d.double.hangup_far_end(call)
    await expect(agent.locator("#state")).to_have_text("Wrap-up")
    await expect(row).to_have_count(0)
    await expect(agent.locator("#ready")).to_be_enabled()  # ready ends an inbound wrap-up
    await agent.fill("#note", "asked about the tariff")
    await agent.click('#dispositions button[data-dispo="END"]')
    await d.state(AgentState.READY)
    row_db = await pool.fetchrow("SELECT * FROM inbound_calls WHERE id = $1", call)
    assert (row_db["disposition"], row_db["disposition_source"], row_db["note"]) == (
        "END",
        "agent",
        "asked about the tariff",
    )
    await expect(agent.locator("#contact-empty")).to_be_visible()


async def test_supervisor_plays_a_call_recording(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory, browser: Any
) -> None:
    engine = await make_engine()
    await add_trunk(pool)
    cid = await make_campaign(pool, name="Sales", mode="MANUAL", record_pct=100)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.2, hangup_after=None))
    (lead_id,) = await add_leads(pool, cid, [phone])
    agent_id, _ = await add_agent(pool, "anna", "Anna Ivanova", "PJSIP/agent101", (cid,))
    await add_user(pool, "sofia", PASSWORD, "supervisor", name="Sofia")
    await start_campaign(pool, "Sales")
    await engine.agents.login(agent_id)
    await eventually(lambda: _state(engine, agent_id, AgentState.READY), what="agent READY")
    runner = await eventually(lambda: _runner(engine, cid), what="campaign running")
    attempt_id = await runner.dial_for_agent(agent_id, lead_id)

    async def recording() -> bool:
        state = await pool.fetchval("SELECT state FROM recordings WHERE name = $1", attempt_id)
        return bool(state == "recording")

    await eventually(recording, within=15, what="the call being recorded")
    await asyncio.sleep(1.5)
    await double.hangup_far_end(attempt_id)

    async def recorded() -> bool:
        state = await pool.fetchval("SELECT state FROM recordings WHERE name = $1", attempt_id)
        return bool(state == "done")

    await eventually(recorded, within=15, what="the call recorded")
    parts = await ConsoleParts.create(pool, engine)
    app = build_app(pool, [AgentApi(engine).add_routes, *parts.route_adders()])
    site: web.AppRunner = await start_site(app, "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{site.addresses[0][1]}"
        sup = await sign_in(browser, base, "sofia")
        await expect(sup).to_have_url(base + "/console/supervisor.html")
        row = sup.locator(f'#recordings tr[data-recording="{attempt_id}"]')
        await expect(row).to_contain_text(phone)
        await expect(row).to_contain_text("Anna Ivanova")
        await sup.evaluate(
            "() => { const a = document.querySelector('#rec-player');"
            " window.__canplay = new Promise((ok, bad) => {"
            " a.addEventListener('canplay', () => ok(a.duration), {once: true});"
            " a.addEventListener('error', () => bad(new Error('audio error ' +"
            " (a.error && a.error.code))), {once: true}); }); }"
        )
        await row.locator("button.play").click()
        duration = await sup.evaluate("() => window.__canplay")
        await shot(sup, "09-supervisor-recording-playing")
        seconds = await pool.fetchval(
            "SELECT duration_s FROM recordings WHERE name = $1", attempt_id
        )
        assert abs(duration - float(seconds)) < 0.1, (duration, seconds)
        logged = await pool.fetch("SELECT login, action FROM recording_access WHERE name = $1",
                                  attempt_id)  # fmt: skip
        assert [(r["login"], r["action"]) for r in logged][:1] == [("sofia", "play")]
    finally:
        await site.cleanup()


async def _state(engine: Engine, agent_id: int, state: AgentState) -> bool:
    s = engine.agents.session(agent_id)
    return s is not None and s.state is state


async def _runner(engine: Engine, campaign_id: int) -> Any:
    return engine.supervisor.runner(campaign_id)
