"""Trunks (how Asterisk dials out) and routes (which trunks, in order, serve a prefix)."""

from __future__ import annotations

import re

import asyncpg
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from ccd.domain.campaigns import TrunkKind
from ccd.log import get_logger

log = get_logger(__name__)

_PREFIX = re.compile(r"^\+[0-9]{0,15}$")
# TECH/resource[&TECH/resource...]: printable ASCII without spaces (the {number} is in it).
_DIAL_STRING = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[!-~]+$")


class RoutingError(ValueError):
    """A trunk or route command that cannot be done; the message names the field."""


class TrunkSpec(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: TrunkKind
    # '&' in a template makes Asterisk dial several channels for one call: only when asked.
    allow_fork: bool = False
    dial_template: str
    max_channels: int = Field(ge=1, le=100_000)
    node: str | None = None

    @field_validator("dial_template")
    @classmethod
    def _template(cls, v: str, info: ValidationInfo) -> str:
        if v.count("{number}") != 1:
            raise ValueError("must contain {number} once, e.g. PJSIP/{number}@city-trunk")
        try:
            v.format(number="+70000000000")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{number}} may appear in braces ({exc!r})") from None
        if not _DIAL_STRING.match(v):
            raise ValueError(
                "must be one Asterisk dial string, TECH/resource without spaces or control"
                " characters, e.g. PJSIP/{number}@city-trunk"
            )
        if "&" in v and not info.data.get("allow_fork"):
            raise ValueError("'&' dials several channels for one call; allow it explicitly")
        return v


def check_prefix(prefix: str) -> str:
    """'+7495' as given; '7495' gets its '+'; '+' alone matches every number."""
    p = prefix.strip()
    if not p.startswith("+"):
        p = "+" + p
    if not _PREFIX.match(p):
        raise RoutingError(f"prefix: {prefix!r} is not '+' followed by digits (e.g. +7495)")
    return p


async def add_trunk(conn: asyncpg.Connection, spec: TrunkSpec) -> int:
    try:
        trunk_id: int = await conn.fetchval(
            "INSERT INTO trunks (name, kind, dial_template, max_channels, node)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            spec.name, spec.kind.value, spec.dial_template, spec.max_channels, spec.node,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise RoutingError(f"name: a trunk named {spec.name!r} exists already") from None
    log.info("trunk.added", trunk_id=trunk_id, name=spec.name, kind=spec.kind.value)
    return trunk_id


async def list_trunks(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        "SELECT id, name, kind, dial_template, max_channels, node, enabled"
        " FROM trunks ORDER BY name"
    )


async def add_route(
    conn: asyncpg.Connection, prefix: str, trunk_names: list[str], *, replace: bool = False
) -> None:
    """Route `prefix` to the trunks in the order given (first = preferred)."""
    prefix = check_prefix(prefix)
    if not trunk_names:
        raise RoutingError("trunks: name at least one trunk")
    if len(set(trunk_names)) != len(trunk_names):
        raise RoutingError("trunks: a trunk is named twice")
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT name, id FROM trunks WHERE name = ANY($1::text[])", trunk_names
        )
        ids = {r["name"]: r["id"] for r in rows}
        missing = [n for n in trunk_names if n not in ids]
        if missing:
            raise RoutingError(
                f"trunks: no trunk named {', '.join(missing)} (see `ccd trunk list`)"
            )
        existing = await conn.fetchval("SELECT count(*) FROM routes WHERE prefix = $1", prefix)
        if existing and not replace:
            raise RoutingError(f"prefix: {prefix} is routed already (use --replace to change it)")
        await conn.execute("DELETE FROM routes WHERE prefix = $1", prefix)
        await conn.executemany(
            "INSERT INTO routes (prefix, trunk_id, position) VALUES ($1, $2, $3)",
            [(prefix, ids[name], pos) for pos, name in enumerate(trunk_names)],
        )
    log.info("route.set", prefix=prefix, trunks=trunk_names)


async def remove_route(conn: asyncpg.Connection, prefix: str) -> int:
    prefix = check_prefix(prefix)
    deleted = await conn.execute("DELETE FROM routes WHERE prefix = $1", prefix)
    count = int(deleted.split()[-1])
    if not count:
        raise RoutingError(f"prefix: {prefix} has no route")
    return count


async def list_routes(conn: asyncpg.Connection) -> list[tuple[str, list[str]]]:
    """(prefix, trunk names in order), longest prefix first."""
    rows = await conn.fetch(
        """
        SELECT r.prefix, array_agg(t.name ORDER BY r.position) AS trunks
        FROM routes r JOIN trunks t ON t.id = r.trunk_id
        GROUP BY r.prefix ORDER BY length(r.prefix) DESC, r.prefix
        """
    )
    return [(r["prefix"], list(r["trunks"])) for r in rows]
