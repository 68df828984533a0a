"""Sessions end everywhere at once: logout, disabled users and agents, new and expired tokens
close open WebSockets; tokens of disabled accounts are refused; the cookie is used only from
the console's own origin; console pages forbid framing and foreign scripts."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from ccd.api.auth import AuthApi
from ccd.api.console import add_console_routes
from ccd.api.live import LiveApi, LiveHub
from ccd.api.session_watch import CLOSE_SESSION_ENDED, SessionWatch
from ccd.config import load_settings
from ccd.store import users as user_store
from tests.api.conftest import PASSWORD, ClientFactory, Seed, login


async def _client(
    pool: asyncpg.Pool, make_client: ClientFactory, recheck_s: float = 60.0
) -> TestClient:
    hub = LiveHub()
    await hub.load(pool)
    watch = SessionWatch(pool, recheck_s=recheck_s)
    return await make_client(AuthApi(pool).add_routes, LiveApi(hub, watch).add_routes)


async def _closed_with(ws: Any) -> int:
    """The close code once the server closes the socket (messages before it are skipped)."""
    async with asyncio.timeout(10):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.CLOSE:
                return int(msg.data)
            assert msg.type == WSMsgType.TEXT, msg


async def _ccd(db_url: str, *args: str) -> tuple[int, str]:
    """Run the CLI in its own process, as an operator would beside the daemon."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccd", *args, env={**os.environ, "CCD_DATABASE_URL": db_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _open(client: TestClient, path: str, hdr: dict[str, str]) -> Any:
    ws = await client.ws_connect(path, headers=hdr)
    assert (await ws.receive_json())["type"] == "snapshot"
    return ws


async def test_logout_closes_the_sessions_sockets(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    sofia = await login(client, "sofia")
    other = await login(client, "sofia")  # a second session of the same user stays
    ws = await _open(client, "/api/live", sofia)
    ws_other = await _open(client, "/api/live", other)
    assert (await client.post("/api/logout", headers=sofia)).status == 200
    assert await _closed_with(ws) == CLOSE_SESSION_ENDED
    await asyncio.sleep(0.3)
    assert not ws_other.closed
    await ws_other.close()


async def test_user_disabled_in_another_process_closes_its_sockets_and_agent_token(
    pool: asyncpg.Pool, db_url: str, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    anna = await login(client, "anna")
    by_session = await _open(client, "/api/agent/ws", anna)
    by_token = await _open(
        client, "/api/agent/ws", {"Authorization": f"Bearer {seed.agent1_token}"}
    )
    code, _ = await _ccd(db_url, "user", "disable", "anna")
    assert code == 0
    assert await _closed_with(by_session) == CLOSE_SESSION_ENDED
    assert await _closed_with(by_token) == CLOSE_SESSION_ENDED
    # The agent's own token is refused while its user is disabled, and works again after.
    hdr = {"Authorization": f"Bearer {seed.agent1_token}"}
    assert (await client.get("/api/me", headers=hdr)).status == 401
    await user_store.set_disabled(pool, "anna", False)
    assert (await client.get("/api/me", headers=hdr)).status == 200


async def test_agent_disable_enable_and_token_rotation(
    pool: asyncpg.Pool, db_url: str, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    token_hdr = {"Authorization": f"Bearer {seed.agent1_token}"}
    ws = await _open(client, "/api/agent/ws", token_hdr)
    user_hdr = await login(client, "anna")
    assert (await _ccd(db_url, "agent", "disable", "ag1"))[0] == 0
    assert await _closed_with(ws) == CLOSE_SESSION_ENDED
    assert (await client.get("/api/me", headers=token_hdr)).status == 401
    assert (await client.get("/api/me", headers=user_hdr)).status == 401  # its user too
    assert (await _ccd(db_url, "agent", "disable", "nobody"))[0] == 2
    assert (await _ccd(db_url, "agent", "enable", "ag1"))[0] == 0
    assert (await client.get("/api/me", headers=token_hdr)).status == 200

    ws = await _open(client, "/api/agent/ws", token_hdr)
    code, out = await _ccd(db_url, "agent", "token", "ag1")
    assert code == 0 and "works 90 days" in out
    assert await _closed_with(ws) == CLOSE_SESSION_ENDED
    assert (await client.get("/api/me", headers=token_hdr)).status == 401
    new = out.split("token (shown once):")[1].split()[0]
    expires = await pool.fetchval(
        "SELECT token_expires_at - now() FROM agents WHERE id = $1", seed.agent1
    )
    assert timedelta(days=89, hours=23) < expires <= timedelta(days=90)
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {new}"})).status == 200


async def test_expired_tokens_are_refused_and_their_sockets_close(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client, recheck_s=0.2)
    token_hdr = {"Authorization": f"Bearer {seed.agent1_token}"}
    sofia = await login(client, "sofia")
    ws_agent = await _open(client, "/api/agent/ws", token_hdr)
    ws_sup = await _open(client, "/api/live", sofia)
    # Expiry sends no NOTIFY: the periodic re-check finds it.
    await pool.execute("UPDATE agents SET token_expires_at = now() WHERE id = $1", seed.agent1)
    await pool.execute("UPDATE api_sessions SET expires_at = now()")
    assert await _closed_with(ws_agent) == CLOSE_SESSION_ENDED
    assert await _closed_with(ws_sup) == CLOSE_SESSION_ENDED
    assert (await client.get("/api/me", headers=token_hdr)).status == 401


async def test_cookie_needs_the_consoles_own_origin(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await _client(pool, make_client)
    resp = await client.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    assert resp.status == 200  # the client's cookie jar now holds ccd_token
    own = f"http://{client.host}:{client.port}"
    assert (await client.get("/api/me")).status == 200  # reading needs no Origin
    evil = {"Origin": "https://evil.example"}
    resp = await client.post("/api/logout", headers=evil)
    assert resp.status == 403 and "evil.example" in (await resp.json())["error"]
    assert (await client.post("/api/logout")).status == 403  # no Origin at all
    resp = await client.get("/api/live", headers={**evil, "Upgrade": "websocket"})
    assert resp.status == 403
    ws = await client.ws_connect("/api/live", headers={"Origin": own})
    assert (await ws.receive_json())["type"] == "snapshot"
    await ws.close()
    # A bearer token is never sent by a browser on its own: no Origin check.
    client.session.cookie_jar.clear()
    sofia = await login(client, "sofia")
    resp = await client.post("/api/logout", headers={**sofia, **evil})
    assert resp.status == 200
    await client.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    assert (await client.post("/api/logout", headers={"Origin": own})).status == 200


async def test_secure_cookie_setting(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    plain = await make_client(AuthApi(pool).add_routes)
    resp = await plain.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    assert "Secure" not in resp.headers["Set-Cookie"]
    secure = await make_client(AuthApi(pool, secure_cookie=True).add_routes)
    resp = await secure.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_console_pages_forbid_framing_and_foreign_scripts(
    pool: asyncpg.Pool, make_client: ClientFactory
) -> None:
    client = await make_client(add_console_routes)
    resp = await client.get("/console/index.html")
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_http_settings(tmp_path: Path) -> None:
    path = tmp_path / "ccd.toml"
    path.write_text("[http]\nsecure_cookies = true\nallowed_origins = ['https://cc.example']\n")
    settings = load_settings(path)
    assert settings.http.secure_cookies and settings.http.allowed_origins == ["https://cc.example"]
    assert settings.http.agent_token_days == 90
