"""Agent state changes reach PostgreSQL in order, many per statement, and one bad row loses
only itself; a pooled query costs one round trip."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from structlog.testing import capture_logs

from ccd.dialer.agent_log import AgentLogWriter
from ccd.domain.agents import AgentEvent, AgentState, Transition
from ccd.store import agents as agent_store
from ccd.store.agents import add_agent, record_transitions

S, E = AgentState, AgentEvent
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def _agents(pool: asyncpg.Pool, n: int) -> list[int]:
    return [(await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent{100 + i}"))[0] for i in range(n)]


async def test_one_statement_writes_the_log_in_order_and_each_agents_latest_state(
    pool: asyncpg.Pool,
) -> None:
    a, b, c = await _agents(pool, 3)
    await record_transitions(pool, [
        (Transition(a, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0)),
        (Transition(b, S.LOGGED_OUT, E.LOGIN, S.READY), _at(1)),
        (Transition(a, S.READY, E.RESERVE, S.RESERVED, attempt_id=None), _at(2)),
        (Transition(a, S.RESERVED, E.RELEASE, S.READY), _at(3)),
        (Transition(b, S.READY, E.PAUSE, S.PAUSED, reason="lunch"), _at(4)),
        (Transition(c, S.LOGGED_OUT, E.LOGIN, S.READY), _at(5)),
        (Transition(c, S.READY, E.READY, S.READY), _at(6)),
    ])  # fmt: skip
    log = await pool.fetch("SELECT agent_id, at, to_state FROM agent_state_log ORDER BY id")
    assert [(r["agent_id"], r["to_state"]) for r in log] == [
        (a, "READY"), (b, "READY"), (a, "RESERVED"), (a, "READY"), (b, "PAUSED"), (c, "READY"),
        (c, "READY"),
    ]  # fmt: skip
    rows = await pool.fetch("SELECT id, state, state_reason, state_since, idle_since FROM agents")
    state = {r["id"]: tuple(r)[1:] for r in rows}
    # a: READY again at 3 (idle from then); b: paused with its reason; c: READY since its
    # login at 5, and READY -> READY at 6 does not reset how long it has been idle.
    assert state[a] == ("READY", None, _at(3), _at(3))
    assert state[b] == ("PAUSED", "lunch", _at(4), None)
    assert state[c] == ("READY", None, _at(6), _at(5))


async def test_an_agent_ready_before_the_batch_keeps_its_idle_time(pool: asyncpg.Pool) -> None:
    (a,) = await _agents(pool, 1)
    await record_transitions(pool, [(Transition(a, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0))])
    await record_transitions(pool, [(Transition(a, S.READY, E.READY, S.READY), _at(9))])
    assert await pool.fetchval("SELECT idle_since FROM agents WHERE id = $1", a) == _at(0)


async def test_a_burst_of_changes_costs_a_couple_of_statements_not_one_each(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _agents(pool, 50)
    statements: list[int] = []

    async def counting(conn: asyncpg.Pool, changes: list[tuple[Transition, datetime]]) -> None:
        statements.append(len(changes))
        await record_transitions(conn, changes)

    monkeypatch.setattr(agent_store, "record_transitions", counting)
    writer = AgentLogWriter(pool)
    # As when 50 answered calls each reserve an agent in one turn of the event loop.
    saved = [writer.add(Transition(i, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0)) for i in ids]
    saved += [writer.add(Transition(i, S.READY, E.RESERVE, S.RESERVED), _at(1)) for i in ids]
    await asyncio.gather(*saved)
    assert sum(statements) == 100
    assert len(statements) <= 2, statements
    assert await pool.fetchval("SELECT count(*) FROM agents WHERE state = 'RESERVED'") == 50
    order = await pool.fetch("SELECT agent_id, to_state FROM agent_state_log ORDER BY id")
    for i in ids:
        assert [r["to_state"] for r in order if r["agent_id"] == i] == ["READY", "RESERVED"]


async def test_a_row_the_database_refuses_loses_only_itself(pool: asyncpg.Pool) -> None:
    a, b = await _agents(pool, 2)
    writer = AgentLogWriter(pool)
    with capture_logs() as logs:
        # One batch: the first add starts the writer, the rest join the same statement.
        saved = [
            writer.add(Transition(a, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0)),
            writer.add(Transition(999_999, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0)),  # no agent
            writer.add(Transition(b, S.LOGGED_OUT, E.LOGIN, S.READY), _at(0)),
        ]
        await asyncio.gather(*saved)
    assert sorted(
        r["agent_id"] for r in await pool.fetch("SELECT agent_id FROM agent_state_log")
    ) == sorted([a, b])
    assert [(e["event"], e["agent_id"]) for e in logs] == [("agent.state_not_saved", 999_999)]


async def test_a_pooled_query_is_one_round_trip(db_url: str) -> None:
    from ccd.store.db import create_pool

    pool = await create_pool(db_url, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
        sent.clear()
        await pool.execute("SELECT 1")
        await pool.fetchval("SELECT 2")
        # The default asyncpg reset (UNLISTEN *, RESET ALL, ...) would follow each one.
        assert sent == ["SELECT 1", "SELECT 2"]
    finally:
        await pool.close()
