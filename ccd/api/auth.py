"""Who is calling the HTTP API, and whether they may.

A middleware resolves the bearer token (the `Authorization: Bearer` header, or the `ccd_token`
cookie the console gets at login, which browsers also send with a WebSocket upgrade) into a
`Principal` stored in `request[PRINCIPAL]`. It rejects nothing by itself: each handler states
its roles with `@require_role(...)`, which answers 401 without a principal and 403 for another
role. Two kinds of token resolve: user sessions from POST /api/login (table api_sessions) and the
per-agent tokens of `ccd agent` (agents.token_hash), which act as the agent's own user.

Login failures are rate-limited per login and per client address (5 a minute by default);
over the limit, POST /api/login answers 429 with Retry-After, even for the right password.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from ccd.log import get_logger
from ccd.store import agents as agent_store
from ccd.store import users as user_store

log = get_logger(__name__)

TOKEN_COOKIE = "ccd_token"
PUBLIC_ATTR = "__ccd_public__"
ROLES_ATTR = "__ccd_roles__"

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A handler as written: a function of the request, or a method of (self, request).
AnyHandler = TypeVar("AnyHandler", bound=Callable[..., Awaitable[web.StreamResponse]])
P = ParamSpec("P")
R = TypeVar("R", bound=web.StreamResponse)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user, or an agent by its own token (user_id None)."""

    user_id: int | None
    login: str
    role: str
    agent_id: int | None
    endpoint: str | None = None

    @property
    def is_supervisor(self) -> bool:
        return self.role in ("supervisor", "admin")


PRINCIPAL = web.RequestKey[Principal | None]("principal")


_ERRORS: dict[int, type[web.HTTPException]] = {
    cls.status_code: cls
    for cls in (
        web.HTTPBadRequest, web.HTTPUnauthorized, web.HTTPForbidden, web.HTTPNotFound,
        web.HTTPConflict, web.HTTPUnprocessableEntity, web.HTTPTooManyRequests,
        web.HTTPBadGateway, web.HTTPServiceUnavailable, web.HTTPGatewayTimeout,
    )
}  # fmt: skip


def error(status: int, message: str, **headers: str) -> web.HTTPException:
    """A JSON error response to raise: {"error": message}."""
    return _ERRORS[status](
        text=web.json_response({"error": message}).text,
        content_type="application/json",
        headers=headers or None,
    )


def public(handler: AnyHandler) -> AnyHandler:
    """Mark a handler as open to anyone (login, the OpenAPI file, static pages)."""
    setattr(handler, PUBLIC_ATTR, True)
    return handler


def principal(request: web.Request) -> Principal:
    """The caller of a handler guarded by require_role."""
    p: Principal | None = request.get(PRINCIPAL)  # aiohttp types get() as Any
    assert p is not None, "principal() outside a require_role handler"
    return p


def require_role(
    *roles: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """401 without a valid token, 403 when the caller's role is not one of `roles`."""

    def wrap(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(handler)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            request = args[-1]  # (request) or (self, request) for methods
            if not isinstance(request, web.Request):
                raise TypeError("a require_role handler takes the request as its last argument")
            p: Principal | None = request.get(PRINCIPAL)  # aiohttp types get() as Any
            if p is None:
                raise error(401, "authentication required", **{"WWW-Authenticate": "Bearer"})
            if p.role not in roles:
                raise error(403, f"role {p.role} may not do this; needs {' or '.join(roles)}")
            return await handler(*args, **kwargs)

        setattr(guarded, ROLES_ATTR, tuple(roles))
        return guarded

    return wrap


def request_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


async def resolve_token(pool: asyncpg.Pool, token: str) -> Principal | None:
    user = await user_store.user_by_session(pool, token)
    if user is not None:
        return Principal(user.id, user.login, user.role, user.agent_id, user.endpoint)
    agent = await agent_store.agent_by_token(pool, token)
    if agent is not None:
        user_id = await pool.fetchval(
            "SELECT id FROM users WHERE agent_id = $1 AND NOT disabled", agent.id
        )
        return Principal(user_id, agent.login, "agent", agent.id)
    return None


def auth_middleware(pool: asyncpg.Pool) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request_token(request)
        request[PRINCIPAL] = await resolve_token(pool, token) if token else None
        return await handler(request)

    return middleware


class LoginLimiter:
    """Sliding-window count of failed logins per key (a login, a client address)."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.max_keys = max_keys
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until a login may be tried again, or None when it may be tried now."""
        now = self._clock()
        waits = []
        for key in keys:
            q = self._recent(key, now)
            if len(q) >= self.max_failures:
                waits.append(q[-self.max_failures] + self.window_s - now)
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        if len(self._failures) > self.max_keys:  # a spray of logins: drop what has expired
            for key in list(self._failures):
                self._recent(key, now)
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginBody(BaseModel):
    login: str
    password: str


async def json_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated by `model`, or 400 naming the bad field."""
    try:
        raw = await request.json()
    except ValueError:
        raise error(400, "body: not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise error(400, f"{where}: {first['msg']}") from None


class AuthApi:
    """POST /api/login, POST /api/logout, GET /api/me (the app needs auth_middleware too)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        session_ttl: timedelta = timedelta(hours=12),
        limiter: LoginLimiter | None = None,
        secure_cookie: bool = False,
    ) -> None:
        self._pool = pool
        self._ttl = session_ttl
        self.limiter = limiter or LoginLimiter()
        self._secure_cookie = secure_cookie

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/login", self.login)
        app.router.add_post("/api/logout", self.logout)
        app.router.add_get("/api/me", self.me)

    @public
    async def login(self, request: web.Request) -> web.Response:
        body = await json_body(request, LoginBody)
        remote = request.remote or "?"
        keys = (f"login:{body.login}", f"ip:{remote}")
        wait = self.limiter.retry_after(keys)
        if wait is not None:
            log.warning("api.login_throttled", login=body.login, remote=remote, retry_after=wait)
            raise web.HTTPTooManyRequests(
                text=web.json_response(
                    {"error": "too many failed logins; try later", "retry_after": wait}
                ).text,
                content_type="application/json",
                headers={"Retry-After": str(wait)},
            )
        user = await user_store.authenticate(self._pool, body.login, body.password)
        if user is None:
            self.limiter.failed(keys)
            log.warning("api.login_failed", login=body.login, remote=remote)
            raise error(401, "wrong login or password")
        self.limiter.clear(keys[0])
        await user_store.purge_expired_sessions(self._pool)
        token, expires_at = await user_store.open_session(
            self._pool, user.id, ttl=self._ttl, remote=remote
        )
        log.info("api.login", user_id=user.id, login=user.login, role=user.role)
        resp = web.json_response(
            {
                "token": token,
                "expires_at": expires_at.isoformat(),
                "user": _user_json(user.id, user.login, user.name, user.role, user.agent_id),
            }
        )
        resp.set_cookie(
            TOKEN_COOKIE, token, max_age=int(self._ttl.total_seconds()), httponly=True,
            samesite="Strict", secure=self._secure_cookie, path="/",
        )  # fmt: skip
        return resp

    @require_role("agent", "supervisor", "admin")
    async def logout(self, request: web.Request) -> web.Response:
        token = request_token(request)
        assert token is not None
        await user_store.close_session(self._pool, token)
        resp = web.json_response({"ok": True})
        resp.del_cookie(TOKEN_COOKIE, path="/")
        return resp

    @require_role("agent", "supervisor", "admin")
    async def me(self, request: web.Request) -> web.Response:
        p = principal(request)
        name = ""
        if p.user_id is not None:
            user = await user_store.get_user(self._pool, p.user_id)
            name = user.name if user else ""
        return web.json_response(_user_json(p.user_id, p.login, name, p.role, p.agent_id))


def _user_json(
    user_id: int | None, login: str, name: str, role: str, agent_id: int | None
) -> dict[str, Any]:
    return {"id": user_id, "login": login, "name": name, "role": role, "agent_id": agent_id}
