"""Console users (agent, supervisor, admin), their password hashes and API sessions.

Passwords: hashlib.scrypt with a per-user random salt, stored as
`scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>` so the cost can be raised later without breaking
old hashes. A login's hash runs on a small thread pool of its own (HASH_THREADS), never on the
event loop that also bridges calls: a burst of logins queues there instead of stalling the loop,
and at most HASH_THREADS hashes (16 MiB of memory each) run at once. Sessions: opaque random
tokens; only their sha256 is stored, with an expiry.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from ccd.domain.names import check_one_line
from ccd.store.agents import acquire, hash_token, new_token, notify_sessions_ended

ROLES = ("agent", "supervisor", "admin", "manager")
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
HASH_THREADS = 2
_hash_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="ccd-scrypt")


class UserError(ValueError):
    """Bad input for a user operation; the message names the field."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    name: str
    role: str
    agent_id: int | None
    endpoint: str | None
    disabled: bool


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UserError("password: at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# A well-formed hash to check against when the login does not exist, so a missing login and a
# wrong password take the same time.
_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(bytes(16))}${_b64(bytes(32))}"

_COLUMNS = "id, login, name, role, agent_id, endpoint, disabled"


def _user(r: asyncpg.Record) -> User:
    return User(
        r["id"], r["login"], r["name"], r["role"], r["agent_id"], r["endpoint"], r["disabled"]
    )


async def add_user(
    conn: asyncpg.Connection | asyncpg.Pool,
    login: str,
    password: str,
    role: str,
    *,
    name: str = "",
    agent_id: int | None = None,
    endpoint: str | None = None,
) -> User:
    """Create a user. An agent user must name its agents row; others must not."""
    for field, value in (("login", login), ("name", name)):
        try:
            check_one_line(value)
        except ValueError as exc:
            raise UserError(f"{field}: {exc}") from None
    if not login or not login.strip() or login != login.strip():
        raise UserError("login: must be non-empty without surrounding spaces")
    if role not in ROLES:
        raise UserError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if role == "agent" and agent_id is None:
        raise UserError("agent_id: an agent user must be linked to an agent")
    if role != "agent" and agent_id is not None:
        raise UserError("agent_id: only agent users are linked to an agent")
    encoded = hash_password(password)
    try:
        r = await conn.fetchrow(
            f"INSERT INTO users (login, name, role, password_hash, agent_id, endpoint)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            login, name, role, encoded, agent_id, endpoint,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        field = "agent_id" if "agent_id" in (exc.constraint_name or "") else "login"
        raise UserError(f"{field}: a user with this {field} already exists") from None
    except asyncpg.ForeignKeyViolationError:
        raise UserError(f"agent_id: no agent with id {agent_id}") from None
    assert r is not None
    return _user(r)


async def get_user(conn: asyncpg.Connection | asyncpg.Pool, user_id: int) -> User | None:
    r = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)
    return _user(r) if r else None


async def list_users(conn: asyncpg.Connection | asyncpg.Pool) -> list[User]:
    return [_user(r) for r in await conn.fetch(f"SELECT {_COLUMNS} FROM users ORDER BY login")]


async def set_password(conn: asyncpg.Connection | asyncpg.Pool, login: str, password: str) -> None:
    """New password; every open session of the user ends."""
    encoded = hash_password(password)
    async with acquire(conn) as c, c.transaction():
        user_id = await c.fetchval(
            "UPDATE users SET password_hash = $2 WHERE login = $1 RETURNING id", login, encoded
        )
        if user_id is None:
            raise UserError(f"login: no user {login!r}")
        await c.execute("DELETE FROM api_sessions WHERE user_id = $1", user_id)
        await notify_sessions_ended(c)


async def set_disabled(
    conn: asyncpg.Connection | asyncpg.Pool, login: str, disabled: bool = True
) -> None:
    """Disable (or enable) a user; disabling ends every open session (and the linked agent's
    token stops working while the user is disabled)."""
    async with acquire(conn) as c, c.transaction():
        user_id = await c.fetchval(
            "UPDATE users SET disabled = $2 WHERE login = $1 RETURNING id", login, disabled
        )
        if user_id is None:
            raise UserError(f"login: no user {login!r}")
        if disabled:
            await c.execute("DELETE FROM api_sessions WHERE user_id = $1", user_id)
            await notify_sessions_ended(c)


async def authenticate(
    conn: asyncpg.Connection | asyncpg.Pool, login: str, password: str
) -> User | None:
    """The user when the login exists, is enabled and the password matches; else None."""
    r = await conn.fetchrow(f"SELECT {_COLUMNS}, password_hash FROM users WHERE login = $1", login)
    encoded = r["password_hash"] if r else _DUMMY_HASH
    ok = await asyncio.get_running_loop().run_in_executor(
        _hash_pool, verify_password, password, encoded
    )
    if r is None or not ok or r["disabled"]:
        return None
    return _user(r)


async def open_session(
    conn: asyncpg.Connection | asyncpg.Pool,
    user_id: int,
    *,
    ttl: timedelta,
    remote: str | None = None,
) -> tuple[str, datetime]:
    """A new opaque token for the user and its expiry; the token itself is never stored."""
    token = new_token()
    expires_at = await conn.fetchval(
        "INSERT INTO api_sessions (token_hash, user_id, expires_at, remote)"
        " VALUES ($1, $2, now() + $3, $4) RETURNING expires_at",
        hash_token(token), user_id, ttl, remote,
    )  # fmt: skip
    return token, expires_at


async def user_by_session(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> User | None:
    """The enabled user owning an unexpired session token (an agent user: while the agent is
    enabled too)."""
    r = await conn.fetchrow(
        f"SELECT {', '.join('u.' + c for c in _COLUMNS.split(', '))}"
        " FROM api_sessions s JOIN users u ON u.id = s.user_id"
        " LEFT JOIN agents a ON a.id = u.agent_id"
        " WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT u.disabled"
        " AND (u.agent_id IS NULL OR a.enabled)",
        hash_token(token),
    )
    return _user(r) if r else None


async def close_session(conn: asyncpg.Connection | asyncpg.Pool, token: str) -> None:
    """Log out: the token stops working and its WebSockets close."""
    async with acquire(conn) as c, c.transaction():
        await c.execute("DELETE FROM api_sessions WHERE token_hash = $1", hash_token(token))
        await notify_sessions_ended(c)


async def purge_expired_sessions(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    status = await conn.execute("DELETE FROM api_sessions WHERE expires_at <= now()")
    return int(status.split()[-1])
