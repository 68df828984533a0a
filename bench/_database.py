"""The database a benchmark runs in: CCD_DATABASE_URL when set, else a scratch database on the
machine's PostgreSQL, migrated, and dropped afterwards. (Not a benchmark: `make bench` skips
files starting with `_`.)"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from ccd.store import migrate
from ccd.store.db import with_database

LOCAL_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _admin(sql: str) -> None:
    admin = await asyncpg.connect(LOCAL_ADMIN)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@contextmanager
def bench_database(prefix: str) -> Iterator[str]:
    url = os.environ.get("CCD_DATABASE_URL")
    if url is not None:
        yield url
        return
    name = f"{prefix}_{os.getpid()}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = with_database(LOCAL_ADMIN, name)
        migrate.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
