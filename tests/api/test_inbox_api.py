"""The managers' SMS inbox over HTTP: roles, filters by code, status and date, one message
with the contact's history, a reply that reaches the SMSC double (also to a customer who
opted out), done and assign, and new messages pushed over /api/live to managers (who see
nothing else there)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from ccd.api.auth import AuthApi
from ccd.api.inbox_api import InboxApi
from ccd.api.live import LiveApi, LiveHub
from ccd.api.session_watch import SessionWatch
from ccd.messaging.inbox import SmsInbox
from ccd.messaging.sms.channel import SmsChannel
from ccd.messaging.sms.mo import InboundSms
from ccd.sim.smsc.double import SmscDouble
from ccd.store import users as user_store
from ccd.store.sms_keywords import add_keyword
from tests.api.conftest import PASSWORD, ClientFactory, Seed, login
from tests.api.test_live_messages import _nothing, _recv
from tests.dialer.conftest import eventually
from tests.sms.conftest import link, no_reports, smsc

__all__ = ["smsc"]  # the fixture

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class App:
    client: TestClient
    hub: LiveHub
    inbox: SmsInbox


@pytest.fixture
async def app(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory, smsc: SmscDouble
) -> AsyncIterator[App]:
    await user_store.add_user(pool, "olga", PASSWORD, "manager", name="Olga")
    await user_store.add_user(pool, "petr", PASSWORD, "manager", name="Petr")
    hub = LiveHub()
    await hub.load(pool)
    sms = SmsChannel([link(smsc.port)])
    inbox = SmsInbox(pool, sms.send_text, hub.push_to_inbox)
    sms.set_inbound(inbox.accept)
    await inbox.start()
    await sms.start(no_reports)
    await sms.gateway.links["a"].wait_bound(5)
    client = await make_client(
        AuthApi(pool).add_routes, LiveApi(hub, SessionWatch(pool)).add_routes,
        InboxApi(pool, inbox, hub).add_routes,
    )  # fmt: skip
    try:
        yield App(client, hub, inbox)
    finally:
        await sms.close()
        await inbox.close()


async def _mo(inbox: SmsInbox, sender: str, text: str, at: datetime) -> None:
    await inbox.accept(InboundSms(sender, "7333", text, 1, True, "a", at, "ucs2"))


async def _stored(pool: asyncpg.Pool, n: int) -> None:
    async def check() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM sms_inbound") >= n)

    await eventually(check, 10, f"{n} stored")


async def _get(client: TestClient, path: str, who: dict[str, str]) -> Any:
    resp = await client.get(path, headers=who)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_roles_filters_and_one_message_with_the_contacts_history(
    pool: asyncpg.Pool, app: App
) -> None:
    await add_keyword(pool, "VOTE", reply=None, assign="inbox", consent=None)
    await pool.execute(
        "INSERT INTO contacts (phone, first_name, last_name) VALUES ('+79161234567', 'Анна',"
        " 'Петрова')"
    )
    await _mo(app.inbox, "79161234567", "vote 3", T0)
    await _mo(app.inbox, "79161234567", "Когда доставка?", T0 + timedelta(days=1))
    await _mo(app.inbox, "79031112233", "VOTE 1", T0 + timedelta(days=2))
    await _stored(pool, 3)
    c = app.client
    olga = await login(c, "olga")
    assert (await c.get("/api/inbox", headers=await login(c, "anna"))).status == 403
    assert (await c.get("/api/inbox")).status == 401

    everything = (await _get(c, "/api/inbox", olga))["messages"]
    assert [m["text"] for m in everything] == ["VOTE 1", "Когда доставка?", "vote 3"]
    page1 = (await _get(c, "/api/inbox?limit=2", olga))["messages"]
    page2 = (await _get(c, f"/api/inbox?limit=2&before={page1[-1]['id']}", olga))["messages"]
    assert [m["text"] for m in page1 + page2] == [m["text"] for m in everything]
    votes = (await _get(c, "/api/inbox?code=vote", olga))["messages"]
    assert [m["text"] for m in votes] == ["VOTE 1", "vote 3"]
    none = (await _get(c, "/api/inbox?code=", olga))["messages"]
    assert [m["text"] for m in none] == ["Когда доставка?"]
    day2 = (await _get(c, "/api/inbox?from=2026-12-02&to=2026-12-02", olga))["messages"]
    assert [m["text"] for m in day2] == ["Когда доставка?"]
    assert (await c.get("/api/inbox?status=open", headers=olga)).status == 400
    assert (await c.get("/api/inbox?from=yesterday", headers=olga)).status == 400

    first = votes[1]
    assert (first["contact_name"], first["keyword"], first["status"]) == (
        "Анна Петрова", "VOTE", "new")  # fmt: skip
    one = await _get(c, f"/api/inbox/{first['id']}", olga)
    assert one["text"] == "vote 3" and one["replies"] == []
    assert [h["text"] for h in one["history"]["sms"]] == ["vote 3", "Когда доставка?"]
    assert one["history"]["calls"] == [] and one["history"]["messages"] == []
    assert (await c.get("/api/inbox/999999", headers=olga)).status == 404

    # done and assign move it through the inbox; a done message stays done
    resp = await c.post(f"/api/inbox/{first['id']}/assign", json={}, headers=olga)
    assert resp.status == 200 and (await resp.json())["assigned_to"] == "olga"
    resp = await c.post(f"/api/inbox/{first['id']}/assign", json={"login": "petr"}, headers=olga)
    assert (await resp.json())["status"] == "assigned"
    (assigned,) = (await _get(c, "/api/inbox?status=assigned", olga))["messages"]
    assert assigned["assigned_to"] == "petr"
    bad = await c.post(f"/api/inbox/{first['id']}/assign", json={"login": "anna"}, headers=olga)
    assert bad.status == 400
    resp = await c.post(f"/api/inbox/{first['id']}/done", headers=olga)
    body = await resp.json()
    assert (body["status"], body["done_by"]) == ("done", "olga")
    again = await c.post(f"/api/inbox/{first['id']}/done", headers=olga)
    assert again.status == 409
    open_ = (await _get(c, "/api/inbox?status=new,assigned", olga))["messages"]
    assert len(open_) == 2


async def test_a_reply_reaches_the_smsc_also_for_an_opted_out_customer_and_is_pushed(
    pool: asyncpg.Pool, app: App, smsc: SmscDouble
) -> None:
    c = app.client
    olga = await login(c, "olga")
    ws = await c.ws_connect("/api/live", headers=olga)
    snap = await _recv(ws)
    assert snap["type"] == "snapshot" and "agents" not in snap  # a manager sees the inbox only
    sofia = await c.ws_connect("/api/live", headers=await login(c, "sofia"))
    assert "agents" in await _recv(sofia)

    smsc.inject_mo("79161234567", "7333", "СТОП")  # opts out, then asks a question
    smsc.inject_mo("79161234567", "7333", "А мой заказ где?")
    # the two messages and the STOP confirmation's reply, in whatever order they settle
    got = [await _recv(ws) for _ in range(3)]
    inbound = [m["message"] for m in got if m["type"] == "sms_inbound"]
    assert [(m["keyword"], m["status"]) for m in inbound] == [("СТОП", "auto"), (None, "new")]
    (confirmation,) = [m for m in got if m["type"] == "sms_reply"]
    assert (confirmation["kind"], confirmation["state"]) == ("auto", "sent")
    question = inbound[1]
    assert (question["text"], question["sender"]) == ("А мой заказ где?", "+79161234567")
    assert (await _recv(sofia))["type"] in ("sms_inbound", "sms_reply")
    app.hub.agent_changed(1, state="READY", since=T0)  # wallboard news: not for managers
    await _nothing(ws)

    mid = question["id"]
    resp = await c.post(f"/api/inbox/{mid}/reply", json={"text": "Заказ 4521 приедет завтра"},
                        headers=olga)  # fmt: skip
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["state"] == "sent"
    pushed = await _recv(ws)
    assert (pushed["type"], pushed["inbound_id"], pushed["kind"]) == ("sms_reply", mid, "manual")
    texts = [(s.destination, s.as_json()["text"]) for s in smsc.submits]
    assert texts[-1] == ("79161234567", "Заказ 4521 приедет завтра")
    row = await pool.fetchrow("SELECT r.*, u.login FROM sms_replies r JOIN users u"
                              " ON u.id = r.user_id WHERE r.inbound_id = $1", mid)  # fmt: skip
    assert (row["login"], row["kind"], row["state"], row["parts"]) == ("olga", "manual", "sent", 1)
    assert row["provider_id"] == f"a:{smsc.submits[-1].message_id}"  # link:id, as mailings
    one = await _get(c, f"/api/inbox/{mid}", olga)
    assert [r["text"] for r in one["replies"]] == ["Заказ 4521 приедет завтра"]
    assert one["replies"][0]["user_login"] == "olga"

    assert (await c.post(f"/api/inbox/{mid}/reply", json={"text": ""}, headers=olga)).status == 400
    missing = await c.post("/api/inbox/999999/reply", json={"text": "x"}, headers=olga)
    assert missing.status == 404
    await asyncio.gather(ws.close(), sofia.close())


async def test_without_smsc_links_a_reply_is_503(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    hub = LiveHub()
    inbox = SmsInbox(pool, None, hub.push_to_inbox)
    await inbox.start()
    try:
        await _mo(inbox, "79161234567", "Здравствуйте", T0)
        await _stored(pool, 1)
        client = await make_client(AuthApi(pool).add_routes, InboxApi(pool, inbox, hub).add_routes)
        mid = await pool.fetchval("SELECT id FROM sms_inbound")
        resp = await client.post(f"/api/inbox/{mid}/reply", json={"text": "Добрый день"},
                                 headers=await login(client, "sofia"))  # fmt: skip
        assert resp.status == 503
        assert await pool.fetchval("SELECT count(*) FROM sms_replies") == 0
    finally:
        await inbox.close()
