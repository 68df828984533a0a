"""PostgreSQL going away exactly when a talked call ends (a restart of the server, played here
for the test's own database only: its backends are terminated and new connections refused)."""

from __future__ import annotations

import asyncio

import asyncpg

from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, database_down, make_campaign, phones


async def test_a_talked_call_ending_while_postgres_is_down(
    pool: asyncpg.Pool,
    db_url: str,
    pg_admin_url: str,
    double: AsteriskDouble,
    make_engine: EngineFactory,
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.2, hangup_after=3000.0))
    (lead,) = await add_leads(pool, cid, [phone])
    agent, _ = await add_agent(pool, "a1", "A1", "PJSIP/agent101")
    engine = await make_engine(wrapup_timeout_s=30.0, orphan_after_s=0.0)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    def state() -> AgentState:
        session = engine.agents.session(agent)
        assert session is not None
        return session.state

    async def is_(want: AgentState) -> bool:
        return state() is want

    await eventually(lambda: is_(AgentState.TALKING), what="talking")
    attempt_id = await pool.fetchval("SELECT id::text FROM attempts")
    async with database_down(pg_admin_url, db_url):
        await double.hangup_far_end(attempt_id)
        # The agent moves on while the end of the call waits for the database.
        await eventually(lambda: is_(AgentState.WRAP_UP), within=3, what="wrap-up, db down")
        await asyncio.sleep(0.5)  # a few failed writes
        assert engine.calls.holds(attempt_id)
    # Back: the end is written once, as a talked call; the agent's disposition is taken.
    await eventually(
        lambda: pool.fetchval("SELECT ended_at IS NOT NULL FROM attempts"),
        what="the end written after the outage",
    )
    row = await pool.fetchrow("SELECT outcome, disposition, answered_at, agent_id FROM attempts")
    assert (row["outcome"], row["disposition"], row["agent_id"]) == ("ANSWERED", None, agent)
    assert row["answered_at"] is not None
    await engine.reconciler.run_once()  # must not take the talked call for a lost one
    assert await engine.calls.agent_disposition(agent, Disposition.END) == attempt_id
    assert state() is AgentState.READY
    row = await pool.fetchrow(
        "SELECT a.outcome, a.disposition, a.disposition_source, l.status FROM attempts a"
        " JOIN leads l ON l.id = a.lead_id WHERE l.id = $1",
        lead,
    )
    assert tuple(row) == ("ANSWERED", "END", "agent", "done")
