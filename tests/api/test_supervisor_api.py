"""Supervisor views and lead scope: an agent never sees another agent's leads."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from ccd.api.auth import AuthApi
from ccd.api.live import CallLive, LiveHub
from ccd.api.supervisor_api import SupervisorApi
from tests.api.conftest import ClientFactory, Seed, login


async def test_views_need_a_supervisor(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    hub = LiveHub()
    await hub.load(pool)
    hub.call_started(
        CallLive("c-9", seed.agent2, seed.campaign_a, None, "+74951112233", datetime.now(UTC))
    )
    client = await make_client(AuthApi(pool).add_routes, SupervisorApi(pool, hub).add_routes)
    for path in ("/api/agents", "/api/calls", "/api/campaigns"):
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers=await login(client, "anna"))).status == 403
    sup = await login(client, "sofia")
    agents = (await (await client.get("/api/agents", headers=sup)).json())["agents"]
    assert [a["login"] for a in agents] == ["ag1", "ag2", "ag3"]
    calls = (await (await client.get("/api/calls", headers=sup)).json())["calls"]
    assert [c["call_id"] for c in calls] == ["c-9"]


async def test_agent_sees_only_their_leads(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    async def lead(phone: str, owner: int | None) -> int:
        return await pool.fetchval(
            "INSERT INTO leads (campaign_id, phone, name, agent_id) VALUES ($1, $2, 'L', $3)"
            " RETURNING id",
            seed.campaign_b, phone, owner,
        )  # fmt: skip

    mine = await lead("+74950000001", seed.agent1)
    boris = await lead("+74950000002", seed.agent2)
    talking = await lead("+74950000003", None)
    await pool.execute(
        "INSERT INTO attempts (id, campaign_id, lead_id, phone, agent_id, state)"
        " VALUES (gen_random_uuid(), $1, $2, 'x', $3, 'bridged')",
        seed.campaign_b, talking, seed.agent1,
    )  # fmt: skip
    hub = LiveHub()
    client = await make_client(AuthApi(pool).add_routes, SupervisorApi(pool, hub).add_routes)
    anna = await login(client, "anna")
    assert (await client.get(f"/api/leads/{mine}", headers=anna)).status == 200
    assert (await client.get(f"/api/leads/{talking}", headers=anna)).status == 200
    assert (await client.get(f"/api/leads/{boris}", headers=anna)).status == 404
    boris_hdr = await login(client, "boris")
    assert (await client.get(f"/api/leads/{talking}", headers=boris_hdr)).status == 404
    sup = await login(client, "sofia")
    got = await (await client.get(f"/api/leads/{boris}", headers=sup)).json()
    assert got["phone"] == "+74950000002" and got["campaign"] == "B"
    assert (await client.get("/api/leads/999999", headers=sup)).status == 404
