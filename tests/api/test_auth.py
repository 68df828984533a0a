"""Users, passwords, sessions, role checks and the login rate limit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import asyncpg
import pytest
from aiohttp import web

from ccd.api.auth import AuthApi, principal, public, require_role
from ccd.api.login_limit import LoginLimiter, LoginTicket
from ccd.store import users as user_store
from tests.api.conftest import PASSWORD, ClientFactory, Seed, login


def _sup_only(app: web.Application) -> None:
    @require_role("supervisor", "admin")
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"login": principal(request).login})

    app.router.add_get("/api/test/sup", handler)


def test_password_hash_is_salted_scrypt() -> None:
    a = user_store.hash_password("s3cret-pass")
    b = user_store.hash_password("s3cret-pass")
    assert a.startswith("scrypt$16384$8$1$") and a != b
    assert user_store.verify_password("s3cret-pass", a)
    assert not user_store.verify_password("s3cret-pasS", a)
    assert not user_store.verify_password("s3cret-pass", "garbage")
    with pytest.raises(user_store.UserError, match="password"):
        user_store.hash_password("short")


async def test_add_user_validates(pool: asyncpg.Pool, seed: Seed) -> None:
    with pytest.raises(user_store.UserError, match="role"):
        await user_store.add_user(pool, "x", PASSWORD, "boss")
    with pytest.raises(user_store.UserError, match="agent_id: an agent user"):
        await user_store.add_user(pool, "x", PASSWORD, "agent")
    with pytest.raises(user_store.UserError, match="login"):
        await user_store.add_user(pool, "sofia", PASSWORD, "supervisor")
    with pytest.raises(user_store.UserError, match="agent_id: a user with this"):
        await user_store.add_user(pool, "anna2", PASSWORD, "agent", agent_id=seed.agent1)
    with pytest.raises(user_store.UserError, match="no agent"):
        await user_store.add_user(pool, "ghost", PASSWORD, "agent", agent_id=9999)


async def test_login_me_logout(pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory) -> None:
    client = await make_client(AuthApi(pool).add_routes)
    assert (await client.get("/api/me")).status == 401
    resp = await client.post("/api/login", json={"login": "anna", "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["user"]["role"] == "agent" and body["user"]["agent_id"] == seed.agent1
    assert "ccd_token" in resp.cookies
    token = body["token"]
    # The token is stored hashed only.
    assert (
        await pool.fetchval("SELECT count(*) FROM api_sessions WHERE token_hash = $1", token) == 0
    )
    hdr = {"Authorization": f"Bearer {token}"}
    me = await (await client.get("/api/me", headers=hdr)).json()
    assert me["login"] == "anna"
    assert (await client.post("/api/logout", headers=hdr)).status == 200
    assert (await client.get("/api/me", headers=hdr)).status == 401


async def test_bad_input_and_wrong_password(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await make_client(AuthApi(pool).add_routes)
    resp = await client.post("/api/login", json={"login": "anna"})
    assert resp.status == 400 and "password" in (await resp.json())["error"]
    resp = await client.post("/api/login", data="{not json")
    assert resp.status == 400
    resp = await client.post("/api/login", json={"login": "anna", "password": "wrong-pass"})
    assert resp.status == 401
    resp = await client.post("/api/login", json={"login": "nobody", "password": PASSWORD})
    assert resp.status == 401


async def test_role_checks(pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory) -> None:
    client = await make_client(AuthApi(pool).add_routes, _sup_only)
    assert (await client.get("/api/test/sup")).status == 401
    bogus = {"Authorization": "Bearer not-a-token"}
    assert (await client.get("/api/test/sup", headers=bogus)).status == 401
    resp = await client.get("/api/test/sup", headers=await login(client, "anna"))
    assert resp.status == 403 and "supervisor" in (await resp.json())["error"]
    assert (await client.get("/api/test/sup", headers=await login(client, "sofia"))).status == 200
    assert (await client.get("/api/test/sup", headers=await login(client, "root"))).status == 200


async def test_agent_token_acts_as_the_agent(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await make_client(AuthApi(pool).add_routes, _sup_only)
    hdr = {"Authorization": f"Bearer {seed.agent1_token}"}
    me = await (await client.get("/api/me", headers=hdr)).json()
    assert me["role"] == "agent" and me["agent_id"] == seed.agent1 and me["login"] == "ag1"
    assert (await client.get("/api/test/sup", headers=hdr)).status == 403


async def test_cookie_session(pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory) -> None:
    client = await make_client(AuthApi(pool).add_routes)
    await client.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    me = await client.get("/api/me")  # the client's cookie jar sends ccd_token
    assert me.status == 200 and (await me.json())["role"] == "supervisor"


async def test_expired_disabled_and_new_password(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    client = await make_client(AuthApi(pool).add_routes)
    hdr = await login(client, "boris")
    await pool.execute("UPDATE api_sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/api/me", headers=hdr)).status == 401
    assert await pool.fetchval("SELECT count(*) FROM api_sessions") == 1
    hdr = await login(client, "boris")  # a login clears expired sessions away
    assert await pool.fetchval("SELECT count(*) FROM api_sessions") == 1

    hdr = await login(client, "boris")
    await user_store.set_password(pool, "boris", "another-pass")
    assert (await client.get("/api/me", headers=hdr)).status == 401

    hdr = await login(client, "sofia")
    await user_store.set_disabled(pool, "sofia")
    assert (await client.get("/api/me", headers=hdr)).status == 401
    resp = await client.post("/api/login", json={"login": "sofia", "password": PASSWORD})
    assert resp.status == 401


async def test_login_failures_are_rate_limited(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    now = [1000.0]
    limiter = LoginLimiter(free_per_login=5, free_per_address=8, clock=lambda: now[0])
    client = await make_client(AuthApi(pool, limiter=limiter).add_routes)
    for _ in range(5):
        resp = await client.post("/api/login", json={"login": "anna", "password": "bad-pass!"})
        assert resp.status == 401
    # Now even the right password is refused for a while, with a Retry-After.
    resp = await client.post("/api/login", json={"login": "anna", "password": PASSWORD})
    assert resp.status == 429 and resp.headers["Retry-After"] == "1"
    # Another login from the same address is not locked out by anna's failures...
    assert (await login(client, "sofia")) and (await login(client, "boris"))
    # ...until the address itself has failed too often, whatever the login.
    for who in ("x1", "x2", "x3"):
        resp = await client.post("/api/login", json={"login": who, "password": "bad-pass!"})
        assert resp.status == 401
    resp = await client.post("/api/login", json={"login": "vera", "password": PASSWORD})
    assert resp.status == 429
    now[0] += 1
    assert (
        await client.post("/api/login", json={"login": "anna", "password": PASSWORD})
    ).status == 200


async def test_concurrent_wrong_logins_verify_at_most_the_limit(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    """100 wrong passwords at once over real sockets: the limit is counted before the hash is
    checked, so only the free attempts are verified and the rest get 429."""
    limiter = LoginLimiter(free_per_login=5)
    client = await make_client(AuthApi(pool, limiter=limiter).add_routes)

    async def attempt() -> int:
        resp = await client.post("/api/login", json={"login": "anna", "password": "bad-pass!"})
        return resp.status

    statuses = await asyncio.gather(*(attempt() for _ in range(100)))
    assert statuses.count(401) == 5 and statuses.count(429) == 95


async def test_login_hashes_off_the_event_loop(
    pool: asyncpg.Pool, seed: Seed, make_client: ClientFactory
) -> None:
    """With every hash thread busy a login waits for one, and the loop goes on serving: the
    hash is neither run on the loop nor run more than HASH_THREADS at a time."""

    @public
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    client = await make_client(
        AuthApi(pool).add_routes, lambda app: app.router.add_get("/healthz", healthz)
    )
    release = threading.Event()
    busy = [user_store._hash_pool.submit(release.wait, 30) for _ in range(user_store.HASH_THREADS)]
    try:
        logging_in = asyncio.ensure_future(
            client.post("/api/login", json={"login": "anna", "password": PASSWORD})
        )
        for _ in range(5):
            assert (await client.get("/healthz")).status == 200
        await asyncio.sleep(0.2)
        assert not logging_in.done()  # queued behind the busy hash threads
    finally:
        release.set()
    assert (await logging_in).status == 200
    assert all(f.result() for f in busy)


def test_limiter_backs_off_per_login_and_address() -> None:
    now = [0.0]
    lim = LoginLimiter(free_per_login=2, free_per_address=100, clock=lambda: now[0])
    assert isinstance(lim.begin("a", "10.0.0.1"), LoginTicket)
    assert isinstance(lim.begin("a", "10.0.0.1"), LoginTicket)
    assert lim.begin("a", "10.0.0.1") == 1  # the 2nd attempt started a 1 s wait
    assert isinstance(lim.begin("a", "10.0.0.2"), LoginTicket)  # elsewhere: not locked out
    assert isinstance(lim.begin("b", "10.0.0.1"), LoginTicket)
    waits = []
    for _ in range(4):
        now[0] += 1000
        wait = lim.begin("a", "10.0.0.1")
        assert isinstance(wait, LoginTicket)
        waits.append(lim.begin("a", "10.0.0.1"))
    assert waits == [2, 4, 8, 16]  # each attempt past the free ones doubles the wait
    for _ in range(20):
        now[0] += 1000
        lim.begin("a", "10.0.0.1")
    assert lim.begin("a", "10.0.0.1") == 900  # capped
    now[0] += 5000  # quiet for longer than forget_s: a fresh start
    ticket = lim.begin("a", "10.0.0.1")
    assert isinstance(ticket, LoginTicket)
    lim.succeeded(ticket)
    assert isinstance(lim.begin("a", "10.0.0.1"), LoginTicket)


def test_limiter_success_gives_the_address_its_attempt_back() -> None:
    now = [0.0]
    lim = LoginLimiter(free_per_login=5, free_per_address=3, clock=lambda: now[0])
    for i in range(10):  # ten colleagues behind one NAT log in fine
        ticket = lim.begin(f"user{i}", "192.0.2.1")
        assert isinstance(ticket, LoginTicket)
        lim.succeeded(ticket)
    for i in range(3):
        assert isinstance(lim.begin(f"bad{i}", "192.0.2.1"), LoginTicket)
    assert lim.begin("user0", "192.0.2.1") == 1


def test_limiter_forgets_expired_keys_under_a_spray() -> None:
    now = [0.0]
    lim = LoginLimiter(clock=lambda: now[0], max_keys=100)
    for i in range(150):
        lim.begin(f"u{i}", f"10.0.{i // 250}.{i % 250}")
    now[0] = 3601
    lim.begin("late", "10.9.9.9")
    assert len(lim._keys) == 2


def test_cli_user_commands(db_url: str, seed: Seed) -> None:
    env = {**os.environ, "CCD_DATABASE_URL": db_url, "CCD_USER_PASSWORD": "cli-password"}

    def ccd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ccd", "user", *args], env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    r = ccd("add", "carl", "--role", "supervisor", "--name", "Carl", "--endpoint", "PJSIP/sup2")
    assert r.returncode == 0, r.stderr
    r = ccd("add", "dina", "--role", "agent", "--agent", "ag3")
    assert r.returncode == 2 and "agent_id" in r.stderr  # ag3 is linked to vera already
    r = ccd("add", "eve", "--role", "boss")
    assert r.returncode == 2 and "role" in r.stderr
    r = ccd("list")
    assert r.returncode == 0 and "carl" in r.stdout and "PJSIP/sup2" in r.stdout
    assert ccd("passwd", "carl").returncode == 0
    assert ccd("disable", "carl").returncode == 0
    assert ccd("passwd", "nobody").returncode == 2
