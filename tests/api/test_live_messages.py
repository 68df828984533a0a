"""The live hub over WebSocket, and pop-up messages reaching the right agent only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from ccd.api.auth import AuthApi
from ccd.api.live import CallLive, LiveApi, LiveHub, QueueLive
from ccd.api.messages import Messages, MessagesApi
from ccd.api.session_watch import SessionWatch
from tests.api.conftest import ClientFactory, Seed, login


async def _app(pool: asyncpg.Pool, make_client: ClientFactory) -> tuple[TestClient, LiveHub]:
    hub = LiveHub()
    await hub.load(pool)
    messages = Messages(pool, hub)
    client = await make_client(
        AuthApi(pool).add_routes,
        LiveApi(hub, SessionWatch(pool), on_agent_connect=messages.deliver_pending).add_routes,
        MessagesApi(messages, pool).add_routes,
    )
    return client, hub


async def _recv(ws: Any) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 2.0)
    assert msg.type == WSMsgType.TEXT, msg
    return msg.json()


async def _nothing(ws: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.receive(), 0.2)


NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_supervisor_snapshot_then_deltas(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client, hub = await _app(pool, make_client)
    ws = await client.ws_connect("/api/live", headers=await login(client, "sofia"))
    snap = await _recv(ws)
    assert snap["type"] == "snapshot"
    assert [a["login"] for a in snap["agents"]] == ["ag1", "ag2", "ag3"]
    assert {c["name"] for c in snap["counters"]} == {"A", "B"}
    assert snap["calls"] == [] and snap["queues"] == []

    hub.agent_changed(seed.agent1, state="READY", since=NOW)
    d = await _recv(ws)
    assert d == {"type": "agent", "agent": {
        "agent_id": seed.agent1, "login": "ag1", "name": "Anna", "state": "READY",
        "since": NOW.isoformat(), "reason": None, "campaign_ids": [seed.campaign_a]}}  # fmt: skip
    call = CallLive("c-1", seed.agent1, seed.campaign_a, None, "+74951234567", NOW)
    hub.call_started(call)
    assert (await _recv(ws))["call"]["call_id"] == "c-1"
    hub.queue_changed(QueueLive("support", 2, NOW))
    assert (await _recv(ws))["queue"] == {"name": "support", "waiting": 2,
                                          "oldest_since": NOW.isoformat()}  # fmt: skip
    hub.call_ended("c-1")
    assert await _recv(ws) == {"type": "call_ended", "call_id": "c-1"}

    # A second supervisor connecting now sees the current picture in its snapshot.
    ws2 = await client.ws_connect("/api/live", headers=await login(client, "root"))
    snap2 = await _recv(ws2)
    agent1 = next(a for a in snap2["agents"] if a["agent_id"] == seed.agent1)
    assert agent1["state"] == "READY" and snap2["queues"][0]["waiting"] == 2
    await ws.close()
    await ws2.close()


async def test_counters_from_attempts(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    for i, outcome in enumerate(["DROPPED", "ANSWERED", "ANSWERED", "ANSWERED", "BUSY"]):
        lead = await pool.fetchval(
            "INSERT INTO leads (campaign_id, phone) VALUES ($1, $2) RETURNING id",
            seed.campaign_a, f"+7495123450{i}",
        )  # fmt: skip
        await pool.execute(
            "INSERT INTO attempts (id, campaign_id, lead_id, phone, state, outcome, answered_at,"
            " ended_at) VALUES (gen_random_uuid(), $1, $2, 'x', 'ended', $3,"
            " CASE WHEN $3 = 'BUSY' THEN NULL ELSE now() END, now())",
            seed.campaign_a, lead, outcome,
        )  # fmt: skip
    client, hub = await _app(pool, make_client)
    ws = await client.ws_connect("/api/live", headers=await login(client, "sofia"))
    snap = await _recv(ws)
    a = next(c for c in snap["counters"] if c["campaign_id"] == seed.campaign_a)
    assert (a["attempts_today"], a["answers_today"], a["drops_today"]) == (5, 4, 1)
    assert a["abandon_today"] == 0.25 and a["abandon_30d"] == 0.25 and a["dial_level"] == 1.5
    await pool.execute("UPDATE attempts SET outcome = 'ANSWERED' WHERE outcome = 'DROPPED'")
    await hub.refresh_counters(pool, seed.campaign_a)
    d = await _recv(ws)
    assert d["type"] == "counters" and d["counters"]["abandon_today"] == 0.0
    hub.dial_level_changed(seed.campaign_a, 2.25)
    d = await _recv(ws)
    assert d["counters"]["dial_level"] == 2.25 and d["counters"]["attempts_today"] == 5
    await hub.refresh_counters(pool, seed.campaign_a)  # keeps the pacer's level
    assert (await _recv(ws))["counters"]["dial_level"] == 2.25


async def test_agent_socket_sees_only_their_own(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client, hub = await _app(pool, make_client)
    ws = await client.ws_connect("/api/agent/ws", headers=await login(client, "anna"))
    snap = await _recv(ws)
    assert snap["agent"]["agent_id"] == seed.agent1 and snap["call"] is None
    hub.agent_changed(seed.agent2, state="READY", since=NOW)
    hub.call_started(CallLive("c-2", seed.agent2, seed.campaign_a, None, "+74950000002", NOW))
    await _nothing(ws)
    hub.agent_changed(seed.agent1, state="TALKING", since=NOW)
    assert (await _recv(ws))["agent"]["state"] == "TALKING"
    hub.call_started(CallLive("c-1", seed.agent1, seed.campaign_a, None, "+74950000001", NOW))
    assert (await _recv(ws))["call"]["call_id"] == "c-1"
    await ws.close()


async def test_websocket_roles(pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory) -> None:
    client, _ = await _app(pool, make_client)
    assert (await client.get("/api/live")).status == 401
    resp = await client.get("/api/live", headers=await login(client, "anna"))
    assert resp.status == 403
    resp = await client.get("/api/agent/ws", headers=await login(client, "sofia"))
    assert resp.status == 403


async def test_slow_subscriber_is_dropped_not_blocking() -> None:
    hub = LiveHub(queue_size=3)
    slow = hub.subscribe()
    fast = hub.subscribe()
    assert (await fast.next())["type"] == "snapshot"
    for i in range(5):
        hub.agent_changed(1, state="READY", since=NOW, login=f"a{i}")
        await fast.next()
    assert slow.dropped and await slow.next() is None
    hub.agent_changed(1, state="PAUSED", since=NOW)
    assert (await fast.next())["agent"]["state"] == "PAUSED"


async def test_popup_reaches_the_right_agent_only(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client, _ = await _app(pool, make_client)
    sup = await login(client, "sofia")
    anna = await client.ws_connect("/api/agent/ws", headers=await login(client, "anna"))
    boris = await client.ws_connect("/api/agent/ws", headers=await login(client, "boris"))
    vera = await client.ws_connect("/api/agent/ws", headers=await login(client, "vera"))
    for ws in (anna, boris, vera):
        await _recv(ws)  # snapshots

    resp = await client.post("/api/messages", json={"agent_id": seed.agent1, "body": "Smile!"},
                             headers=sup)  # fmt: skip
    assert resp.status == 201
    sent = (await resp.json())["messages"]
    assert len(sent) == 1 and sent[0]["delivered_at"] is not None and sent[0]["from"] == "Sofia"
    got = await _recv(anna)
    assert got["type"] == "message" and got["message"]["body"] == "Smile!"
    await _nothing(boris)
    await _nothing(vera)

    # To a campaign: every agent of campaign A, nobody of B.
    resp = await client.post(
        "/api/messages", json={"campaign_id": seed.campaign_a, "body": "Break at 12"}, headers=sup
    )
    assert len((await resp.json())["messages"]) == 2
    assert (await _recv(anna))["message"]["body"] == "Break at 12"
    assert (await _recv(boris))["message"]["body"] == "Break at 12"
    await _nothing(vera)
    for ws in (anna, boris, vera):
        await ws.close()


async def test_offline_agent_gets_messages_on_connect_and_read_receipt(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client, _ = await _app(pool, make_client)
    sup = await login(client, "sofia")
    wall = await client.ws_connect("/api/live", headers=sup)
    await _recv(wall)
    resp = await client.post("/api/messages", json={"agent_id": seed.agent2, "body": "Call me"},
                             headers=sup)  # fmt: skip
    msg = (await resp.json())["messages"][0]
    assert msg["delivered_at"] is None  # boris is not connected
    boris_hdr = await login(client, "boris")
    ws = await client.ws_connect("/api/agent/ws", headers=boris_hdr)
    await _recv(ws)  # snapshot
    got = await _recv(ws)
    assert got["message"]["id"] == msg["id"] and got["message"]["delivered_at"] is not None

    anna = await login(client, "anna")
    assert (await client.post(f"/api/messages/{msg['id']}/read", headers=anna)).status == 404
    resp = await client.get("/api/messages", headers=anna)
    assert (await resp.json())["messages"] == []  # not hers
    resp = await client.post(f"/api/messages/{msg['id']}/read", headers=boris_hdr)
    assert resp.status == 200 and (await resp.json())["read_at"] is not None
    receipt = await _recv(wall)
    assert receipt["type"] == "message_read" and receipt["message"]["id"] == msg["id"]
    resp = await client.get("/api/messages?unread=1", headers=boris_hdr)
    assert (await resp.json())["messages"] == []
    await ws.close()
    await wall.close()


async def test_message_input_and_roles(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client, _ = await _app(pool, make_client)
    sup = await login(client, "sofia")
    resp = await client.post("/api/messages", json={"agent_id": seed.agent1, "body": "x"},
                             headers=await login(client, "anna"))  # fmt: skip
    assert resp.status == 403
    resp = await client.post("/api/messages", json={"body": "x"}, headers=sup)
    assert resp.status == 400 and "exactly one" in (await resp.json())["error"]
    resp = await client.post("/api/messages", json={"agent_id": 999, "body": "x"}, headers=sup)
    assert resp.status == 404
    resp = await client.post("/api/messages", json={"agent_id": seed.agent1, "body": ""},
                             headers=sup)  # fmt: skip
    assert resp.status == 400 and "body" in (await resp.json())["error"]
