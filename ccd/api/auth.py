"""Who is calling the HTTP API, and whether they may.

A middleware resolves the bearer token (the `Authorization: Bearer` header, or the `ccd_token`
cookie the console gets at login, which browsers also send with a WebSocket upgrade) into a
`Principal` stored in `request[PRINCIPAL]`. It rejects nothing by itself: each handler states
its roles with `@require_role(...)`, which answers 401 without a principal and 403 for another
role. Two kinds of token resolve: user sessions from POST /api/login (table api_sessions) and the
per-agent tokens of `ccd agent` (agents.token_hash), which act as the agent's own user.
A request the cookie authenticates must come from the console's own origin when it changes
state or opens a WebSocket (the Origin header's host is the request's Host, or is allowed).

Logins are throttled per (login, client address) and per address (ccd.api.login_limit):
over the limit, POST /api/login answers 429 with Retry-After, even for the right password.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, Field, ValidationError

from ccd.api.login_limit import LoginLimiter
from ccd.log import get_logger
from ccd.store import agents as agent_store
from ccd.store import users as user_store

log = get_logger(__name__)

TOKEN_COOKIE = "ccd_token"
PUBLIC_ATTR = "__ccd_public__"
ROLES_ATTR = "__ccd_roles__"

M = TypeVar("M", bound=BaseModel)
INT4_MAX = 2**31 - 1  # PostgreSQL integer (campaigns, agents, users)
INT8_MAX = 2**63 - 1  # PostgreSQL bigint (leads, messages, spy sessions)
# An id in a JSON body: a larger number cannot be a row, and asyncpg would refuse to send it.
Int4Id = Annotated[int, Field(gt=0, le=INT4_MAX)]
Int8Id = Annotated[int, Field(gt=0, le=INT8_MAX)]
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
        web.HTTPConflict, web.HTTPGone, web.HTTPUnprocessableEntity, web.HTTPTooManyRequests,
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


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def request_token(request: web.Request) -> str | None:
    return bearer_token(request) or request.cookies.get(TOKEN_COOKIE) or None


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


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_origin(request: web.Request, allowed_origins: Iterable[str]) -> str | None:
    """The foreign Origin of a request that changes state or opens a WebSocket (what another
    site could make a browser send: CSRF, socket hijacking); None when it may go on. Only for
    requests the session cookie authenticates: a bearer header is never sent by a browser on
    its own."""
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    if request.method in _SAFE_METHODS and not upgrade:
        return None
    origin = request.headers.get("Origin", "")
    if origin in allowed_origins or origin.partition("://")[2] == request.host:
        return None
    return origin or "(none)"


def auth_middleware(pool: asyncpg.Pool, allowed_origins: Iterable[str] = ()) -> Middleware:
    """Resolve the caller (see the module doc); refuse cross-origin cookie use (403).
    `allowed_origins` are trusted besides the API's own host, e.g. a TLS proxy's URL."""
    allowed = frozenset(allowed_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request_token(request)
        request[PRINCIPAL] = await resolve_token(pool, token) if token else None
        by_cookie = request[PRINCIPAL] is not None and bearer_token(request) is None
        if by_cookie and (origin := cross_origin(request, allowed)) is not None:
            log.warning("api.cross_origin", origin=origin, path=request.path)
            raise error(403, f"origin {origin} may not use the session cookie")
        return await handler(request)

    return middleware


class LoginBody(BaseModel):
    login: str = Field(max_length=200)
    password: str = Field(max_length=1000)


def parse_json(text: str) -> Any:
    """JSON text as values; ValueError for bad JSON, and for nesting too deep to parse (json
    recurses once a level: 400 KB of '[' would otherwise be a RecursionError, a 500)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


async def json_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated by `model`, or 400 naming the bad field."""
    try:
        raw = await request.json(loads=parse_json)
    except ValueError as exc:
        raise error(400, f"body: not valid JSON ({exc})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise error(400, f"{where}: {first['msg']}") from None


def query_model(request: web.Request, model: type[M]) -> M:
    """The request's query parameters validated by `model`, or 400 naming the bad one."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "query"
        raise error(400, f"{where}: {first['msg']}") from None


def path_id(request: web.Request, what: str, *, max_id: int = INT4_MAX) -> int:
    """The {id} of the path (routes match it as [0-9]+); 404 past the column's range, where
    no row can be."""
    raw = request.match_info["id"]
    if len(raw) > len(str(max_id)) or not 0 < int(raw) <= max_id:
        raise error(404, f"no such {what}")
    return int(raw)


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
        attempt = self.limiter.begin(body.login, remote)
        if isinstance(attempt, int):  # the seconds to wait
            log.warning("api.login_throttled", login=body.login, remote=remote, retry_after=attempt)
            raise web.HTTPTooManyRequests(
                text=web.json_response(
                    {"error": "too many failed logins; try later", "retry_after": attempt}
                ).text,
                content_type="application/json",
                headers={"Retry-After": str(attempt)},
            )
        user = await user_store.authenticate(self._pool, body.login, body.password)
        if user is None:
            log.warning("api.login_failed", login=body.login, remote=remote)
            raise error(401, "wrong login or password")
        self.limiter.succeeded(attempt)
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

    @require_role("agent", "supervisor", "admin", "manager")
    async def logout(self, request: web.Request) -> web.Response:
        token = request_token(request)
        assert token is not None
        await user_store.close_session(self._pool, token)
        resp = web.json_response({"ok": True})
        resp.del_cookie(TOKEN_COOKIE, path="/")
        return resp

    @require_role("agent", "supervisor", "admin", "manager")
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
