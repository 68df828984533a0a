"""Schema migrations with alembic, driven from Python (no alembic.ini to keep in sync)."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from ccd.store.db import connect, sqlalchemy_url


def alembic_config(url: str) -> Config:
    cfg = Config()
    # Shipped inside the package as ccd.migrations (mapped from the repo's migrations/).
    cfg.set_main_option("script_location", str(files("ccd.migrations")))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Synchronous: alembic's env.py runs its own event loop (call via asyncio.to_thread)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def current_revision(url: str) -> str | None:
    conn = await connect(url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not exists:
            return None
        version: str = await conn.fetchval("SELECT version_num FROM alembic_version")
        return version
    finally:
        await conn.close()


async def is_current(url: str) -> bool:
    return await current_revision(url) == head_revision(url)
