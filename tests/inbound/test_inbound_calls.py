"""Inbound calls end to end: AriPbx + AgentService + InboundService on the Asterisk double."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from ccd.dialer.clock import ManualClock
from ccd.domain.agents import AgentState
from ccd.inbound.agents_port import reservation_id
from ccd.telephony.pbx import CallBridged
from tests.dialer.conftest import eventually
from tests.dialer.helpers import make_campaign
from tests.inbound.harness import city_flow, rig


def plays(r, call: str) -> list[str]:
    """Media played to the call, in order."""
    return [q.query.get("media", "") for q in r.double.requests
            if q.method == "POST" and q.path.startswith(f"/ari/channels/{call}/play")]  # fmt: skip


@pytest.fixture
def flow(tmp_path: Path):
    f = city_flow(tmp_path)
    return {f.name: f}


async def test_menu_1_queue_agent_answers(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        agent_id = await r.agent("agent101")
        call = await r.call(dtmf="1", dtmf_at=0.2, hangup_after=2.0)
        row = await r.ended(call)
        assert row["outcome"] == "answered"
        assert row["agent_id"] == agent_id and row["queue"] == "support"
        assert row["queued_at"] <= row["answered_at"] < row["ended_at"]
        assert row["did"] == "5550013" and row["caller"] == "+74951112233"
        steps = await r.steps(call)
        assert ("hours", "hours", None, "open") in steps
        assert ("menu", "menu", "1", "support") in steps
        assert ("support", "agent", str(agent_id), "answered") in steps
        session = r.agents.session(agent_id)
        assert session is not None and session.state is AgentState.WRAP_UP
        assert session.attempt_id == reservation_id(call)
        # the caller really was in the agent's bridge
        bridged = [q for q in r.double.requests
                   if q.path.endswith(f"/bridges/agent-{agent_id}/addChannel")]  # fmt: skip
        assert bridged


async def test_invalid_digit_twice_goodbye(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        call = await r.call(dtmf="97", dtmf_at=0.2)
        row = await r.ended(call)
        assert row["outcome"] == "hangup"
        steps = await r.steps(call)
        menu = [s for s in steps if s[0] == "menu"]
        assert menu == [
            ("menu", "menu", "9", "invalid"),
            ("menu", "menu", "7", "invalid -> goodbye"),
        ]
        assert steps[-1][:2] == ("goodbye", "hangup")


async def test_timeout_reprompts_then_input(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        # nothing for the first 0.6 s window: one re-prompt, then "3" (callback) arrives
        await make_campaign(pool, "callbacks", mode="MANUAL")
        call = await r.call(dtmf="3", dtmf_at=2.2)
        row = await r.ended(call)
        steps = await r.steps(call)
        menu = [s for s in steps if s[0] == "menu"]
        assert menu[0] == ("menu", "menu", None, "timeout")
        assert menu[-1] == ("menu", "menu", "3", "callback")
        assert row["outcome"] == "callback"
        assert plays(r, call).count("sound:ccd/main-menu") == 2


async def test_silence_until_fallback(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        call = await r.call()
        row = await r.ended(call)
        assert row["outcome"] == "hangup"
        menu = [s for s in await r.steps(call) if s[0] == "menu"]
        assert menu == [
            ("menu", "menu", None, "timeout"),
            ("menu", "menu", None, "timeout -> goodbye"),
        ]


async def test_a_caller_whose_stasis_start_was_lost_gets_the_flow_after_the_reconnect(
    pool: asyncpg.Pool, flow
) -> None:
    async with rig(pool, flow) as r:
        r.double.lose_events()  # half-open: Stasis() succeeds, its StasisStart goes nowhere
        call = await r.call()
        await asyncio.sleep(0.2)
        assert call not in r.inbound.live_calls()
        assert not await pool.fetchval("SELECT count(*) FROM inbound_calls")
        r.double.lose_events(False)
        await r.double.drop_websockets()  # the link is found dead; the resync finds the caller
        row = await r.ended(call)
        assert row["outcome"] == "hangup" and row["did"] == "5550013"
        assert row["caller"] == "+74951112233"
        assert [s[3] for s in await r.steps(call) if s[0] == "menu"] == [
            "timeout", "timeout -> goodbye"
        ]


async def test_a_recovered_call_an_earlier_process_ran_is_settled_not_rerun(
    pool: asyncpg.Pool, flow
) -> None:
    async with rig(pool, flow) as r:
        r.double.lose_events()
        call = await r.call(hangup_after=30.0)
        # As if a process that died had started its flow.
        await pool.execute(
            "INSERT INTO inbound_calls (id, node, did, caller) VALUES ($1, 'pbx1', $2, '')",
            call, "5550013",
        )  # fmt: skip
        r.double.lose_events(False)
        await r.double.drop_websockets()
        await eventually(
            lambda: pool.fetchval(
                "SELECT outcome = 'failed' FROM inbound_calls WHERE id = $1", call
            ),
            what="the earlier process's call settled",
        )
        assert call not in r.double.channels  # hung up, not left in silence
        assert call not in r.inbound.live_calls()
        assert not await r.steps(call)


@pytest.mark.slow  # several seconds of simulated call time
async def test_collect_account_number_with_terminator(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        # "2" picks the account entry; the digits that follow interrupt its prompt
        call = await r.call(dtmf="2123456#", dtmf_at=0.2)
        row = await r.ended(call)
        assert row["variables"] == {"account": "123456"}
        steps = await r.steps(call)
        assert ("account", "collect", "123456", "ok") in steps
        assert "digits:123456" in plays(r, call)
        assert row["outcome"] == "hangup"


async def test_closed_hours_branch(pool: asyncpg.Pool, flow) -> None:
    holiday = ManualClock(datetime(2026, 12, 31, 9, 0, tzinfo=UTC))  # 12:00 in Moscow, a holiday
    async with rig(pool, flow, clock=holiday) as r:
        call = await r.call(dtmf="1", dtmf_at=0.2)
        row = await r.ended(call)
        steps = await r.steps(call)
        assert steps[0] == ("hours", "hours", None, "closed")
        assert steps[1][:2] == ("closed", "hangup")
        assert row["outcome"] == "hangup" and row["queue"] is None


async def test_caller_abandons_in_queue(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        call = await r.call(dtmf="1", dtmf_at=0.2, hangup_after=2.5)
        await eventually(lambda: _async(r.inbound.acd.waiting("support")), what="queued")
        # Only agents of the caller's own Asterisk can take it (one bridge, one node).
        assert [e.node for e in r.inbound.acd.waiting("support")] == ["pbx1"]
        row = await r.ended(call)
        assert row["outcome"] == "abandoned_queue"
        waited = (row["dequeued_at"] - row["queued_at"]).total_seconds()
        assert 1.0 < waited < 3.0
        results = [s[3] for s in await r.steps(call) if s[0] == "support"]
        assert results[-1].startswith("abandoned after ")
        assert any(s[1] == "announce" for s in await r.steps(call))  # position announced


@pytest.mark.slow  # several seconds of simulated call time
async def test_overflow_after_max_wait(pool: asyncpg.Pool, tmp_path: Path) -> None:
    f = city_flow(tmp_path, max_wait_s=1.0)
    async with rig(pool, {f.name: f}) as r:
        call = await r.call(dtmf="1", dtmf_at=0.2)
        row = await r.ended(call)
        assert row["outcome"] == "overflowed"
        steps = await r.steps(call)
        assert ("support", "queue", None, "max wait -> overflowed") in steps
        assert [s[0] for s in steps][-2:] == ["overflowed", "goodbye"]
        assert r.inbound.acd.waiting() == []


async def test_three_callers_served_in_arrival_order(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        agent_id = await r.agent("agent102")
        await r.agents.pause(agent_id, "lunch")
        calls = []
        for _ in range(3):
            calls.append(await r.call(dtmf="1", dtmf_at=0.1, hangup_after=6.0))
            await asyncio.sleep(0.3)  # distinct arrival times
        # all three are waiting; each of them is served by the same agent in turn
        order: list[str] = []
        r.router.extra.append(
            lambda ev: order.append(ev.call_id)
            if isinstance(ev, CallBridged) and ev.bridge_id == f"agent-{agent_id}" else None
        )  # fmt: skip
        await asyncio.sleep(0.5)
        assert [r.inbound.acd.position(e) for e in r.inbound.acd.waiting("support")] == [1, 2, 3]
        await r.agents.ready(agent_id)
        for call in calls:
            while r.agents.session(agent_id).state is not AgentState.TALKING:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            await r.pbx.hangup(call)  # the agent ends the talk
            await r.ended(call)
            await r.agents.dispose(agent_id, reservation_id(call))
        assert [c for c in order if c in calls] == calls
        rows = await pool.fetch("SELECT id, outcome FROM inbound_calls ORDER BY queued_at")
        assert [(x["id"], x["outcome"]) for x in rows] == [(c, "answered") for c in calls]


async def test_blended_agent_gets_inbound_before_outbound(pool: asyncpg.Pool, flow) -> None:
    """Against the real AgentService with a stand-in outbound claimant (its ready subscriber)."""
    async with rig(pool, flow) as r:
        agent_id = await r.agent("agent103")
        await r.agents.pause(agent_id, "coaching")
        offered_to_outbound: list[int] = []
        r.agents.subscribe_ready(lambda s: offered_to_outbound.append(s.agent_id))
        call = await r.call(dtmf="1", dtmf_at=0.1, hangup_after=3.0)
        while not r.inbound.acd.waiting("support"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await r.agents.ready(agent_id)
        # the inbound caller reserved the agent before the outbound side heard of them
        session = r.agents.session(agent_id)
        assert session.state in (AgentState.RESERVED, AgentState.TALKING)
        assert session.attempt_id == reservation_id(call)
        assert r.agents.ready_count(None) == 0
        row = await r.ended(call)
        assert row["outcome"] == "answered" and row["agent_id"] == agent_id
        assert offered_to_outbound == []
        await r.agents.dispose(agent_id, reservation_id(call))
        assert offered_to_outbound == [agent_id]  # free again: now outbound may have them


async def test_callback_request_creates_lead(pool: asyncpg.Pool, flow) -> None:
    campaign_id = await make_campaign(pool, "callbacks", mode="MANUAL")
    async with rig(pool, flow) as r:
        call = await r.call(caller="84951234567", dtmf="3", dtmf_at=0.2)
        row = await r.ended(call)
        assert row["outcome"] == "callback"
        lead = await pool.fetchrow("SELECT * FROM leads WHERE campaign_id = $1", campaign_id)
        assert lead["phone"] == "+74951234567" and lead["status"] == "callback"
        assert ("callback", "callback", "+74951234567", f"lead {lead['id']}") in await r.steps(call)


async def test_unrouted_did_is_recorded_failed(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        await pool.execute("DELETE FROM inbound_routes")
        call = await r.call(dtmf="1")
        row = await r.ended(call)
        assert row["outcome"] == "failed" and row["flow"] is None


@pytest.mark.slow  # several seconds of simulated call time
async def test_higher_priority_is_served_first(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        agent_id = await r.agent("agent104")
        await r.agents.pause(agent_id, "briefing")
        plain = await r.call(caller="+74951110001", dtmf="1", dtmf_at=0.1, hangup_after=5.0)
        await asyncio.sleep(0.3)
        vip = await r.call(caller="+74951110002", dtmf="4", dtmf_at=0.1, hangup_after=2.5)
        while len(r.inbound.acd.waiting("support")) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert [e.call_id for e in r.inbound.acd.waiting("support")] == [vip, plain]
        await r.agents.ready(agent_id)
        assert r.agents.session(agent_id).attempt_id == reservation_id(vip)
        assert (await r.ended(vip))["outcome"] == "answered"
        assert (await r.ended(plain))["outcome"] == "abandoned_queue"


@pytest.mark.slow  # several seconds of simulated call time
async def test_agent_lost_mid_call_returns_caller_to_the_head(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        first = await r.agent("agent105")
        second = await r.agent("agent106")
        await r.agents.pause(second, "later")
        call = await r.call(dtmf="1", dtmf_at=0.1, hangup_after=6.0)
        while r.agents.session(first).state is not AgentState.TALKING:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        leg = r.agents.session(first).leg_id
        await r.double.hangup_far_end(leg)  # the first agent's phone drops
        while not r.inbound.acd.waiting("support"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert r.inbound.acd.position(r.inbound.acd.waiting("support")[0]) == 1
        await r.agents.ready(second)
        row = await r.ended(call)
        assert row["outcome"] == "answered" and row["agent_id"] == second
        results = [s[2:] for s in await r.steps(call) if s[1] == "agent"]
        assert results == [
            (str(first), "answered"), (str(first), "agent lost"), (str(second), "answered"),
        ]  # fmt: skip


async def test_voicemail_is_recorded(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        call = await r.call(dtmf="0", dtmf_at=0.1, hangup_after=2.5)
        row = await r.ended(call)
        assert row["outcome"] == "voicemail"
        rec = await pool.fetchrow("SELECT * FROM recordings WHERE call_id = $1", call)
        assert rec["kind"] == "voicemail" and rec["caller"] == "+74951112233"
        assert rec["name"] == f"voicemail-5550013-{call}"
        path = f"/ari/bridges/vm-{call}/record"
        started = [q for q in r.double.requests if q.method == "POST" and q.path == path]
        assert started and started[0].query["name"] == rec["name"]


@pytest.mark.slow  # several seconds of simulated call time
async def test_open_calls_of_an_earlier_process_are_settled(pool: asyncpg.Pool, flow) -> None:
    await pool.execute(
        "INSERT INTO inbound_calls (id, node, did, caller) VALUES ('1700000000.7', 'pbx1', 'x', '')"
    )
    async with rig(pool, flow) as r:
        call = await r.call(dtmf="1", dtmf_at=0.1, hangup_after=3.0)  # a live call of ours
        while call not in r.inbound.live_calls():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        await r.double.drop_websockets()  # a reconnect must leave our own live call alone
        await asyncio.sleep(0.5)
        assert r.inbound.owns(call) and call in r.inbound.live_calls()
        row = await r.ended(call)
        assert row["outcome"] == "abandoned_queue"
    stale = await pool.fetchrow("SELECT * FROM inbound_calls WHERE id = '1700000000.7'")
    assert stale["outcome"] == "failed" and stale["ended_at"] is not None


async def test_agent_without_disposition_is_ready_after_wrapup_time(
    pool: asyncpg.Pool, flow
) -> None:
    async with rig(pool, flow, wrapup_timeout_s=0.5) as r:
        agent_id = await r.agent("agent107")
        became_ready = asyncio.Event()
        r.agents.subscribe_ready(lambda s: became_ready.set())
        call = await r.call(dtmf="1", dtmf_at=0.1, hangup_after=1.5)
        assert (await r.ended(call))["outcome"] == "answered"
        assert r.agents.session(agent_id).state is AgentState.WRAP_UP
        await asyncio.wait_for(became_ready.wait(), 3.0)
        assert r.agents.session(agent_id).state is AgentState.READY


async def _async(value: object) -> object:
    return value


async def test_the_agent_hangs_up_an_inbound_caller(pool: asyncpg.Pool, flow) -> None:
    async with rig(pool, flow) as r:
        agent_id = await r.agent("agent107")
        call = await r.call(dtmf="1", dtmf_at=0.1, hangup_after=60.0)
        while r.agents.session(agent_id).state is not AgentState.TALKING:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        # The session tracks the reservation id; the caller's own channel is what is hung up.
        assert await r.agents.hang_up_customer(agent_id) == call
        row = await r.ended(call)
        assert row["outcome"] == "answered" and row["agent_id"] == agent_id
        session = r.agents.session(agent_id)
        assert session is not None and session.state is AgentState.WRAP_UP
        assert session.leg_id in r.double.channels
