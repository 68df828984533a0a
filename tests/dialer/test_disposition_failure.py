"""A disposition that cannot be written frees the agent all the same."""

from __future__ import annotations

import json

import asyncpg
import pytest

from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from tests.dialer.conftest import EngineFactory, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones


async def test_failed_disposition_does_not_hold_the_agent_in_wrap_up(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    (lead,) = await add_leads(pool, cid, [phone])
    double.program(phone, FarEnd.answer(after=1.0, hangup_after=3.0))
    agent, _ = await add_agent(pool, "a0", "Agent 0", "PJSIP/agent101")
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    async def wrapping() -> bool:
        s = engine.agents.session(agent)
        return s is not None and s.state is AgentState.WRAP_UP

    await eventually(wrapping, what="agent in wrap-up")
    # A rule stored before delays were bounded: the lead's next date overflows.
    rules = {"rules": {"NO_ANSWER": {"action": "retry", "delay_s": 10**20}}}
    await pool.execute(
        "UPDATE campaigns SET retry_rules = $2::jsonb WHERE id = $1", cid, json.dumps(rules)
    )
    with pytest.raises((ValueError, OverflowError)):
        await engine.calls.agent_disposition(agent, Disposition.NO_ANSWER)
    assert engine.agents.session(agent).state is AgentState.READY  # type: ignore[union-attr]
    row = await pool.fetchrow("SELECT disposition FROM attempts WHERE lead_id = $1", lead)
    assert row["disposition"] is None  # still owed: reconciliation settles it
