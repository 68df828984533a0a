"""Faults at the worst moment, on `ccd run` and the double as separate processes: Asterisk
restarted or killed with calls up, `ccd run` killed with calls bridged and ringing, PostgreSQL
gone when a talked call ends (played for the test's own database only: its connections are cut
and new ones refused, as a server restart looks to ccd, without disturbing other tests).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.dialer.conftest import eventually
from tests.dialer.helpers import database_down
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess, DoubleProcess

pytestmark = pytest.mark.e2e

TALK, TALK2, RING = "+74952000001", "+74952000002", "+74952000003"


async def _attempts(daemon: CcdProcess) -> dict[str, Any]:
    rows = await daemon.sql(
        "SELECT l.phone, a.outcome, a.disposition, a.answered_at, a.bridged_at, l.status,"
        " l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
        " WHERE a.ended_at IS NOT NULL"
    )
    return {r["phone"]: r for r in rows}


async def _attempt_ids(daemon: CcdProcess) -> dict[str, str]:
    rows = await daemon.sql(
        "SELECT l.phone, a.id::text AS id FROM attempts a JOIN leads l ON l.id = a.lead_id"
    )
    return {r["phone"]: r["id"] for r in rows}


async def _legs_in_bridges(double: DoubleProcess, agents: int) -> bool:
    """Every agent-{id} bridge holds that agent's leg, and there are `agents` of them."""
    bridges = (await double.state())["bridges"]
    mine = {b: chans for b, chans in bridges.items() if b.startswith("agent-")}
    return len(mine) == agents and all(
        any(c.startswith(f"{b}-") for c in chans) for b, chans in mine.items()
    )


async def _all_ready(daemon: CcdProcess, tokens: list[str]) -> bool:
    return all([await daemon.agent_state(t) == "READY" for t in tokens])


async def _talking_and_ringing(daemon: CcdProcess, double: DoubleProcess) -> list[str]:
    """Two agents talking on TALK and TALK2 (campaign talk), a third reserved for RING
    (campaign ring) while it rings; returns the three agents' tokens."""
    await double.program(TALK, "answer", after=1.0, hangup_after=36000.0)
    await double.program(TALK2, "answer", after=1.0, hangup_after=36000.0)
    await double.program(RING, "no_answer")
    await daemon.setup_campaign("talk", [TALK, TALK2], "--mode", "POWER")
    # Rings for 12 s (the double's time runs at 0.1): still ringing when the fault strikes and
    # when the next process starts, even on a loaded machine (at 30 s it gave up after 3 s).
    await daemon.setup_campaign("ring", [RING], "--mode", "POWER", "--dial-timeout", "120",
                                trunk=False)  # fmt: skip
    tokens = [
        await daemon.login_agent("anna", "PJSIP/agent101", "talk"),
        await daemon.login_agent("boris", "PJSIP/agent102", "talk"),
    ]
    await daemon.cli("campaign", "start", "talk")
    for t in tokens:
        await daemon.wait_agent(t, "TALKING")
    tokens.append(await daemon.login_agent("vera", "PJSIP/agent103", "ring"))
    await daemon.cli("campaign", "start", "ring")

    async def ringing() -> bool:
        ids = await _attempt_ids(daemon)
        chans = (await double.state())["channels"]
        return any(c["state"] == "Ringing" and c["id"] == ids.get(RING) for c in chans)

    await eventually(ringing, within=20, what="the third call ringing")
    return tokens


async def test_asterisk_restart_with_calls_talking_and_ringing(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    tokens = await _talking_and_ringing(daemon, double_proc)
    await double_proc.restart(down_for=1.8)
    # The agents are called again and READY only with their legs in their bridges.
    await eventually(lambda: _all_ready(daemon, tokens), within=30, what="agents READY again")
    assert await _legs_in_bridges(double_proc, 3)
    rows = await _attempts(daemon)
    for phone in (TALK, TALK2):  # talked: kept as talked, the disposition is owed
        r = rows[phone]
        assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", None, "in_progress")
        assert r["answered_at"] is not None and r["bridged_at"] is not None
    r = rows[RING]  # rang: a failed call's short retry
    assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", "FAILED", "retry")
    assert r["next_attempt_at"] < datetime.now(UTC) + timedelta(minutes=10)
    reasons = await daemon.sql(
        "SELECT DISTINCT reason FROM agent_state_log WHERE to_state = 'LOGGED_OUT'"
    )
    assert [r["reason"] for r in reasons] == ["pbx link lost"]
    # An agent gives the owed disposition of the cut call after being called back.
    reply = await daemon.post("/api/agent/disposition", {"disposition": "END"}, token=tokens[0])
    assert reply.status == 200, reply


async def test_asterisk_killed_and_started_with_agents_logged_in(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    await double_proc.program(TALK, "answer", after=1.0, hangup_after=36000.0)
    await daemon.setup_campaign("talk", [TALK], "--mode", "POWER")
    tokens = [
        await daemon.login_agent("anna", "PJSIP/agent101"),
        await daemon.login_agent("boris", "PJSIP/agent102"),
    ]
    await daemon.cli("campaign", "start", "talk")

    async def one_talking() -> bool:
        return "TALKING" in [await daemon.agent_state(t) for t in tokens]

    await eventually(one_talking, within=20, what="a call talking")
    double_proc.kill9()
    double_proc.start()
    await eventually(lambda: _all_ready(daemon, tokens), within=30, what="agents READY again")
    assert await _legs_in_bridges(double_proc, 2)
    r = (await _attempts(daemon))[TALK]
    assert (r["outcome"], r["disposition"]) == ("LOST", None)
    assert r["answered_at"] is not None


async def test_ccd_killed_with_calls_bridged_and_ringing(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    first = await ccd("--wrapup-timeout", "30")
    await _talking_and_ringing(first, double_proc)
    first.kill9()
    # The next process, with the default --orphan-after of 60 s, settles them at start-up.
    second = await ccd()
    rows = await _attempts(second)
    for phone in (TALK, TALK2):
        r = rows[phone]
        assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", None, "in_progress")
        assert r["answered_at"] is not None and r["bridged_at"] is not None
    r = rows[RING]
    assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", "FAILED", "retry")

    ids = set((await _attempt_ids(second)).values())

    async def hung_up() -> bool:
        return not any(c["id"] in ids for c in (await double_proc.state())["channels"])

    await eventually(hung_up, within=5, what="the dead process's calls hung up")


async def test_postgres_down_when_a_talked_call_ends(
    ccd: CcdFactory, double_proc: DoubleProcess, pg_admin_url: str, db_url: str
) -> None:
    """The end of the call is written once the database is back, as a talked call (never LOST
    and re-dialed in 5 min), and the agent is not stuck: the disposition goes through."""
    daemon = await ccd("--wrapup-timeout", "600")
    await double_proc.program(TALK, "answer", after=1.0, hangup_after=36000.0)
    await daemon.setup_campaign("talk", [TALK], "--mode", "POWER")
    token = await daemon.login_agent("anna", "PJSIP/agent101", "talk")
    await daemon.cli("campaign", "start", "talk")
    await daemon.wait_agent(token, "TALKING")
    (call,) = await daemon.sql("SELECT id::text AS id FROM attempts")
    async with database_down(pg_admin_url, db_url):
        await double_proc.hangup(call["id"])  # the customer hangs up during the outage
        await asyncio.sleep(2.0)  # the end-of-call write fails meanwhile, and is retried
    rows = await eventually(
        lambda: daemon.sql(
            "SELECT outcome, disposition, answered_at, bridged_at FROM attempts"
            " WHERE ended_at IS NOT NULL"
        ),
        within=30,
        what="the end of the call written after the outage",
    )
    (row,) = rows
    assert (row["outcome"], row["disposition"]) == ("ANSWERED", None)
    assert row["answered_at"] is not None and row["bridged_at"] is not None
    await daemon.wait_agent(token, "WRAP_UP")
    reply = await daemon.post("/api/agent/disposition", {"disposition": "END"}, token=token)
    assert reply.status == 200, reply
    assert await daemon.agent_state(token) == "READY"
    (row,) = await daemon.sql(
        "SELECT a.outcome, a.disposition, a.disposition_source, l.status FROM attempts a"
        " JOIN leads l ON l.id = a.lead_id"
    )
    assert tuple(row) == ("ANSWERED", "END", "agent", "done")
    # The outage did hit the end of the call (else this test proves nothing).
    assert daemon.events("db.write_deferred"), daemon.log_tail()
