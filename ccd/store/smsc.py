"""SMSC links as the operator configured them (`ccd smsc add/list/remove`)."""

from __future__ import annotations

import asyncpg

from ccd.log import get_logger
from ccd.messaging.sms.settings import LinkSettings
from ccd.store.db import AnyConnection

log = get_logger(__name__)

_COLUMNS = "name, host, port, system_id, password, system_type, tps, window_size, prefixes, " \
    "source_addr"  # fmt: skip


class SmscError(ValueError):
    """An SMSC link command that cannot be done; the message names the field."""


async def add_link(conn: asyncpg.Connection, link: LinkSettings) -> int:
    try:
        link_id: int = await conn.fetchval(
            f"INSERT INTO smsc_links ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            " RETURNING id",
            link.name, link.host, link.port, link.system_id, link.password, link.system_type,
            link.tps, link.window, list(link.prefixes), link.source_addr,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise SmscError(f"name: an SMSC link named {link.name!r} exists already") from None
    log.info("smsc.added", link_id=link_id, name=link.name, host=link.host, port=link.port)
    return link_id


async def list_links(conn: AnyConnection) -> list[LinkSettings]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM smsc_links ORDER BY id")
    return [
        LinkSettings(
            name=r["name"], host=r["host"], port=r["port"], system_id=r["system_id"],
            password=r["password"], system_type=r["system_type"], tps=r["tps"],
            window=r["window_size"], prefixes=tuple(r["prefixes"]), source_addr=r["source_addr"],
        )  # fmt: skip
        for r in rows
    ]


async def remove_link(conn: asyncpg.Connection, name: str) -> None:
    removed = await conn.fetchval("DELETE FROM smsc_links WHERE name = $1 RETURNING id", name)
    if removed is None:
        raise SmscError(f"name: no SMSC link named {name!r}")
    log.info("smsc.removed", name=name)
