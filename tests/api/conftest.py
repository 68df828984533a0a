"""Fixtures for the HTTP API tests: seeded users/agents, and a real server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ccd.api.auth import auth_middleware
from ccd.store import agents as agent_store
from ccd.store import users as user_store

PASSWORD = "correct horse"


@dataclass
class Seed:
    campaign_a: int
    campaign_b: int
    agent1: int  # in campaign A
    agent2: int  # in campaign A
    agent3: int  # in campaign B
    agent1_token: str  # the agent's own API token (agents.token_hash)


@pytest.fixture
async def seed(pool: asyncpg.Pool) -> Seed:
    ca = await pool.fetchval(
        "INSERT INTO campaigns (name, mode) VALUES ('A', 'PREDICTIVE') RETURNING id"
    )
    cb = await pool.fetchval(
        "INSERT INTO campaigns (name, mode) VALUES ('B', 'MANUAL') RETURNING id"
    )
    a1, tok1 = await agent_store.add_agent(pool, "ag1", "Anna", "PJSIP/agent101", (ca,))
    a2, _ = await agent_store.add_agent(pool, "ag2", "Boris", "PJSIP/agent102", (ca,))
    a3, _ = await agent_store.add_agent(pool, "ag3", "Vera", "PJSIP/agent103", (cb,))
    await user_store.add_user(pool, "anna", PASSWORD, "agent", name="Anna", agent_id=a1)
    await user_store.add_user(pool, "boris", PASSWORD, "agent", name="Boris", agent_id=a2)
    await user_store.add_user(pool, "vera", PASSWORD, "agent", name="Vera", agent_id=a3)
    await user_store.add_user(
        pool, "sofia", PASSWORD, "supervisor", name="Sofia", endpoint="PJSIP/sup1"
    )
    await user_store.add_user(pool, "root", PASSWORD, "admin", name="Admin")
    return Seed(ca, cb, a1, a2, a3, tok1)


ClientFactory = Callable[[Callable[[web.Application], None]], Awaitable[TestClient]]


@pytest.fixture
async def make_client(pool: asyncpg.Pool) -> AsyncIterator[ClientFactory]:
    """Build an app (with the auth middleware) from route adders, served on a loopback port."""
    clients: list[TestClient] = []

    async def factory(*adders: Callable[[web.Application], None]) -> TestClient:
        app = web.Application(middlewares=[auth_middleware(pool)])
        for add in adders:
            add(app)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield factory  # type: ignore[misc]
    for c in clients:
        await c.close()


async def login(client: TestClient, who: str) -> dict[str, str]:
    """Log in as `who`; returns the Authorization header to send."""
    resp = await client.post("/api/login", json={"login": who, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    client.session.cookie_jar.clear()  # tests send the header explicitly
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}
