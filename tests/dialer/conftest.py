"""End-to-end fixtures: the Asterisk double on loopback, AriPbx against it, real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from ccd.config import AsteriskNode
from ccd.dialer.clock import Clock
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.campaigns import CampaignStatus
from ccd.sim.asterisk import AsteriskDouble
from ccd.store.campaigns import set_status
from ccd.telephony.ari_pbx import AriPbx

TIME_SCALE = 0.01  # a 60 s call lasts 0.6 s

EngineFactory = Callable[..., Awaitable[Engine]]


async def _running_double() -> AsyncIterator[AsteriskDouble]:
    d = AsteriskDouble(time_scale=TIME_SCALE, trunk_caps={"city-trunk": 10_000})
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
async def double() -> AsyncIterator[AsteriskDouble]:
    async for d in _running_double():
        yield d


@pytest.fixture
async def second() -> AsyncIterator[AsteriskDouble]:
    """Another Asterisk beside `double` (node pbx2), for two-node tests."""
    async for d in _running_double():
        yield d


def node_for(double: AsteriskDouble) -> AsteriskNode:
    return AsteriskNode(
        name="pbx1", ari_url=double.ari_url, ari_password="ccdsecret",
        ami_host=double.ami_host, ami_port=double.ami_port, ami_secret="ccdsecret",
    )  # fmt: skip


@pytest.fixture
async def make_engine(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble
) -> AsyncIterator[EngineFactory]:
    engines: list[Engine] = []

    async def make(clock: Clock | None = None, **cfg: Any) -> Engine:
        cfg.setdefault("idle_wait_s", 0.05)
        cfg.setdefault("drain_timeout_s", 0.5)
        pbx = AriPbx([node_for(double)], backoff_initial_s=0.05, backoff_max_s=0.2)
        engine = Engine(pool, db_url, pbx, clock=clock, config=EngineConfig(**cfg))
        await engine.start()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.stop()


async def start_campaign(pool: asyncpg.Pool, name: str) -> None:
    async with pool.acquire() as conn:
        await set_status(conn, name, CampaignStatus.RUNNING)


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition"
) -> Any:
    """Wait until `check()` returns something truthy (tests only: polls every 20 ms)."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def all_disposed(pool: asyncpg.Pool, campaign_id: int, n: int) -> bool:
    got = await pool.fetchval(
        "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND disposition IS NOT NULL",
        campaign_id,
    )
    return got >= n
