"""Ids and JSON bodies no row or parser can take get 400/404, never a 500."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestClient

from ccd.api.auth import AuthApi
from ccd.api.live import LiveHub
from ccd.api.messages import Messages, MessagesApi
from ccd.api.supervisor_api import SupervisorApi
from tests.api.conftest import ClientFactory, Seed, login

HUGE = "99999999999999999999"


async def _client(pool: asyncpg.Pool, make_client: ClientFactory) -> TestClient:
    hub = LiveHub()
    await hub.load(pool)
    return await make_client(
        AuthApi(pool).add_routes,
        SupervisorApi(pool, hub).add_routes,
        MessagesApi(Messages(pool, hub), pool).add_routes,
    )


async def test_out_of_range_and_non_ascii_ids(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    sup = await login(client, "sofia")
    for lead_id in (HUGE, "9" * 5000, "0", "%D9%A1%D9%A2"):  # the last: Arabic-Indic "12"
        resp = await client.get(f"/api/leads/{lead_id}", headers=sup)
        assert resp.status == 404, (lead_id, resp.status)
    for agent_id in (HUGE, "\u00b2", "\u0661"):  # superscript two, Arabic-Indic one
        resp = await client.get("/api/messages", params={"agent_id": agent_id}, headers=sup)
        assert resp.status == 400 and "agent_id" in (await resp.json())["error"], agent_id
    resp = await client.post(
        "/api/messages", json={"body": "hi", "agent_id": int(HUGE)}, headers=sup
    )
    assert resp.status == 400 and "agent_id" in (await resp.json())["error"]
    anna = await login(client, "anna")
    assert (await client.post(f"/api/messages/{HUGE}0/read", headers=anna)).status == 404


async def test_deeply_nested_json_is_a_bad_request(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    resp = await client.post(
        "/api/login", data="[" * 400_000, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "nested too deeply" in (await resp.json())["error"]
