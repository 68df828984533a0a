"""Crash safety: two engines on one database, kill -9 and restart, Asterisk restart."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from ccd.config import AsteriskNode
from ccd.dialer.calls import INSTANCE_VAR
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.domain.agents import AgentState
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from ccd.store.claim import claim_leads
from ccd.telephony.ari_pbx import AriPbx
from tests.dialer.conftest import (
    EngineFactory,
    eventually,
    node_for,
    start_campaign,
)
from tests.dialer.helpers import (
    add_leads,
    add_trunk,
    free_port,
    make_campaign,
    phones,
    spawn_daemon,
)


def _originated_ids(double: AsteriskDouble) -> list[str]:
    out = []
    for r in double.requests:
        if r.method == "POST" and r.path.rstrip("/").endswith("/channels"):
            cid = (r.query or {}).get("channelId") or (r.body or {}).get("channelId")
            if cid and not cid.startswith("agent-"):
                out.append(cid)
    return out


async def _no_overlap(pool: asyncpg.Pool) -> None:
    """Per lead, each attempt starts after the previous one ended: never two at once."""
    rows = await pool.fetch(
        "SELECT lead_id, created_at, ended_at FROM attempts ORDER BY lead_id, created_at"
    )
    last: dict[int, object] = {}
    for r in rows:
        prev_end = last.get(r["lead_id"])
        assert prev_end is None or r["created_at"] >= prev_end, r["lead_id"]
        last[r["lead_id"]] = r["ended_at"]


async def test_two_engines_on_one_campaign_never_dial_a_lead_twice(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=20, max_ratio=20)
    numbers = phones(2000)
    double.default_far_end = FarEnd.busy(after=0.0)
    await add_leads(pool, cid, numbers)
    a1, _ = await add_agent(pool, "a1", "A1", "PJSIP/agent101")
    a2, _ = await add_agent(pool, "a2", "A2", "PJSIP/agent102")
    first = await make_engine()
    second = await make_engine()
    await first.agents.login(a1)
    await second.agents.login(a2)
    await start_campaign(pool, "c1")
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 2000 FROM attempts WHERE disposition IS NOT NULL"),
        within=60,
        what="2000 dispositions",
    )
    per_lead = await pool.fetchval(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM attempts GROUP BY lead_id) x"
    )
    assert per_lead == 1
    ids = _originated_ids(double)
    assert len(ids) == 2000 and len(set(ids)) == 2000
    placed = [first.supervisor.runner(cid).placed, second.supervisor.runner(cid).placed]  # type: ignore[union-attr]
    assert sum(placed) == 2000 and min(placed) > 0


async def test_asterisk_restart_mid_campaign(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    """`core restart now` as Asterisk 22.10.1 does it (20c): talked calls and agent legs end
    with cause 16, a ringing call with Dial NOANSWER; the soft cause-4 hangup before them
    tells ccd they were cut by the restart, not hung up."""
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    talkers, ringing, later = phones(2), phones(1, start=2), phones(3, start=3)
    for p in talkers + later:
        double.program(p, FarEnd.answer(after=0.2, hangup_after=3000.0))
    await add_leads(pool, cid, talkers, priority=10)
    await add_leads(pool, cid, ringing, priority=5)  # FarEnd.no_answer: rings until the end
    await add_leads(pool, cid, later)
    agents = [(await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent10{i}"))[0] for i in (1, 2)]
    engine = await make_engine(wrapup_timeout_s=0.1)
    for a in agents:
        await engine.agents.login(a)
    await start_campaign(pool, "c1")

    async def talking() -> bool:
        return all(
            engine.agents.session(a).state is AgentState.TALKING  # type: ignore[union-attr]
            for a in agents
        )

    await eventually(talking, what="two calls with agents")
    third, _ = await add_agent(pool, "a3", "A3", "PJSIP/agent103")
    await engine.agents.login(third)  # READY: the campaign dials the ringing lead for it
    await eventually(lambda: _ringing(double, ringing[0]), what="the third call ringing")
    await double.restart(down_for=0.3)
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 3 FROM attempts WHERE ended_at IS NOT NULL"),
        what="the cut calls ended",
    )
    rows = {
        r["phone"]: r
        for r in await pool.fetch(
            "SELECT l.phone, a.outcome, a.disposition, a.answered_at, a.bridged_at, a.agent_id,"
            " l.status, l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
            " WHERE a.ended_at IS NOT NULL"
        )
    }
    for p in talkers:  # talked: the answer is kept, the agent owes the disposition
        r = rows[p]
        assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", None, "in_progress")
        assert r["answered_at"] is not None and r["bridged_at"] is not None
        assert r["agent_id"] in agents
    r = rows[ringing[0]]  # ringing: a failed call's short retry, not NO_ANSWER's hours
    assert (r["outcome"], r["disposition"], r["status"]) == ("LOST", "FAILED", "retry")
    assert r["next_attempt_at"] < datetime.now(UTC) + timedelta(minutes=10)
    # The agents' phones died with Asterisk: logged out, called again once it is back, and
    # READY only with their leg in their bridge; the campaign goes on with the other leads.
    for a in [*agents, third]:
        log = [
            tuple(r)
            for r in await pool.fetch(
                "SELECT to_state, reason FROM agent_state_log WHERE agent_id = $1 ORDER BY id", a
            )
        ]
        assert ("LOGGED_OUT", "pbx link lost") in log
        assert ("LOGGED_OUT", "phone hung up") not in log
    await eventually(
        lambda: pool.fetchval("SELECT count(*) >= 3 FROM attempts WHERE bridged_at IS NOT NULL"
                              " AND created_at > (SELECT max(ended_at) FROM attempts"
                              " WHERE outcome = 'LOST')"),
        what="new calls bridged after the restart",
    )  # fmt: skip
    for a in [*agents, third]:
        session = engine.agents.session(a)
        assert session is not None and session.leg_id is not None
        assert session.leg_id in {c.id for c in double.bridges[session.bridge_id].channels}


async def test_asterisk_killed_agents_come_back_ready_only_in_their_bridge(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    """Asterisk killed with -9 and started again: no event at all, the link drops. The old
    legs' bridge teardown (made slow here) must not destroy the bridge a re-login just made,
    and an agent is READY only with its leg in its bridge."""
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.2, hangup_after=3000.0))
    await add_leads(pool, cid, [phone])
    agents = [(await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent10{i}"))[0] for i in (1, 2)]
    engine = await make_engine()
    for a in agents:
        await engine.agents.login(a)
    await start_campaign(pool, "c1")
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 1 FROM attempts WHERE bridged_at IS NOT NULL"),
        what="a talked call",
    )
    outside: list[int] = []
    engine.agents.subscribe_ready(
        lambda s: None if _in_bridge(double, s.bridge_id, s.leg_id) else outside.append(s.agent_id)
    )
    double.slow_rest("DELETE", "/bridges/", 0.3)
    await double.crash()

    async def back() -> bool:
        return all(
            (s := engine.agents.session(a)) is not None
            and s.state is AgentState.READY
            and _in_bridge(double, s.bridge_id, s.leg_id)
            for a in agents
        )

    await eventually(back, what="both agents READY in their bridges")
    await asyncio.sleep(0.6)  # the slow teardowns have landed by now
    assert await back() and outside == []
    row = await pool.fetchrow("SELECT outcome, disposition, answered_at FROM attempts")
    assert (row["outcome"], row["disposition"]) == ("LOST", None)
    assert row["answered_at"] is not None


def _in_bridge(double: AsteriskDouble, bridge_id: str, leg_id: str | None) -> bool:
    bridge = double.bridges.get(bridge_id)
    return bridge is not None and leg_id in {c.id for c in bridge.channels}


async def _ringing(double: AsteriskDouble, phone: str) -> bool:
    return any(ch.state == "Ringing" and phone in ch.dialstring for ch in double.channels.values())


async def _login(session: aiohttp.ClientSession, port: int, token: str) -> None:
    async def attempt() -> bool:
        try:
            async with session.post(
                f"http://127.0.0.1:{port}/api/agent/login",
                json={},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(attempt, within=20, what="agent login over HTTP")


@pytest.mark.slow
async def test_kill_9_mid_campaign_then_restart(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, tmp_path: Path
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=3)
    numbers = phones(150)
    for i, p in enumerate(numbers):
        far = (
            FarEnd.answer(after=0.5, hangup_after=100.0)
            if i % 3 == 0
            else FarEnd.no_answer() if i % 3 == 1 else FarEnd.busy(after=2.0)
        )  # fmt: skip
        double.program(p, far)
    await add_leads(pool, cid, numbers)
    tokens = []
    for i in range(4):
        _, token = await add_agent(pool, f"a{i}", f"A{i}", f"PJSIP/agent{101 + i}")
        tokens.append(token)
    port = free_port()
    log = tmp_path / "ccd.log"
    proc = spawn_daemon(db_url, double, port, log)
    try:
        async with aiohttp.ClientSession() as session:
            for t in tokens:
                await _login(session, port, t)
            await start_campaign(pool, "c1")
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) >= 30 AND count(*) FILTER (WHERE ended_at IS NULL) > 3"
                    " FROM attempts"
                ),
                within=30,
                what="a campaign in full swing",
            )
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)  # the double must keep serving meanwhile
            in_flight = await pool.fetchval("SELECT count(*) FROM attempts WHERE ended_at IS NULL")
            assert in_flight > 0
            proc = spawn_daemon(db_url, double, port, log)
            for t in tokens:
                await _login(session, port, t)
            # Calls talked when the process died owe their disposition until the wrap-up
            # grace (--wrapup-timeout + 60 s) ends them: their leads wait that long.
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) = 0 FROM leads WHERE status IN ('new', 'in_progress')"
                ),
                within=120,
                what="every lead dialed and settled",
            )
            await eventually(
                lambda: pool.fetchval(
                    "SELECT count(*) = 0 FROM attempts"
                    " WHERE ended_at IS NULL OR disposition IS NULL"
                ),
                within=30,
                what="every attempt ended with a disposition",
            )
            # The daemon serves the other route sets too: the engine feeds /metrics.
            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            assert resp.status == 200 and 'ccd_calls_originated_total{campaign="c1"}' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
    lost = await pool.fetchval("SELECT count(*) FROM attempts WHERE outcome = 'LOST'")
    assert lost >= in_flight - 1  # the calls the dead process held (one may have ended)
    ids = Counter(_originated_ids(double))
    assert max(ids.values()) == 1  # no attempt id was originated twice
    await _no_overlap(pool)
    assert proc.returncode == 0, log.read_text()[-3000:]


async def test_kill_9_settles_the_dead_owners_calls_at_once(
    pool: asyncpg.Pool,
    db_url: str,
    double: AsteriskDouble,
    make_engine: EngineFactory,
    tmp_path: Path,
) -> None:
    """`ccd run` killed with a call bridged and one ringing: the next process settles them at
    start-up, long before --orphan-after (60 s here), since the owner's lock is free."""
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=2, dial_timeout_s=60)
    talk, ring = phones(2)
    double.program(talk, FarEnd.answer(after=0.2, hangup_after=3000.0))
    double.program(ring, FarEnd.no_answer())
    await add_leads(pool, cid, [talk], priority=10)
    await add_leads(pool, cid, [ring])
    _, token = await add_agent(pool, "a1", "A1", "PJSIP/agent101")
    port = free_port()
    log = tmp_path / "ccd.log"
    proc = spawn_daemon(db_url, double, port, log)
    try:
        async with aiohttp.ClientSession() as session:
            await _login(session, port, token)
        await start_campaign(pool, "c1")
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FILTER (WHERE bridged_at IS NOT NULL) = 1 AND count(*) = 2"
                " FROM attempts WHERE ended_at IS NULL"
            ),
            within=30,
            what="one call talking, one ringing",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
    ids = {
        r["phone"]: r["id"]
        for r in await pool.fetch(
            "SELECT l.phone, a.id::text AS id FROM attempts a JOIN leads l ON l.id = a.lead_id"
        )
    }
    assert all(i in double.channels for i in ids.values())  # still up in Asterisk
    await make_engine(orphan_after_s=60.0)  # its start-up reconcile settles them
    rows = {
        r["phone"]: r
        for r in await pool.fetch(
            "SELECT l.phone, a.outcome, a.disposition, a.answered_at, a.bridged_at, l.status"
            " FROM attempts a JOIN leads l ON l.id = a.lead_id"
        )
    }
    talked, rang = rows[talk], rows[ring]
    assert (talked["outcome"], talked["disposition"], talked["status"]) == (
        "LOST", None, "in_progress",
    )  # fmt: skip
    assert talked["answered_at"] is not None and talked["bridged_at"] is not None
    assert (rang["outcome"], rang["disposition"], rang["status"]) == ("LOST", "FAILED", "retry")
    await eventually(
        lambda: _gone(double, ids.values()), within=2, what="the orphaned calls hung up"
    )


async def _gone(double: AsteriskDouble, call_ids: object) -> bool:
    return not any(i in double.channels for i in call_ids)  # type: ignore[attr-defined]


async def test_a_dropped_event_link_keeps_the_calls_asterisk_still_has(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.2, hangup_after=100.0))  # 1 s of talk
    await add_leads(pool, cid, [phone])
    agent, _ = await add_agent(pool, "a1", "A1", "PJSIP/agent101")
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    async def state() -> AgentState:
        return engine.agents.session(agent).state  # type: ignore[union-attr]

    await eventually(lambda: _is(state, AgentState.TALKING), what="talking")
    await double.drop_websockets()
    await asyncio.sleep(0.3)  # reconnect, resync, reconcile
    assert await state() is AgentState.TALKING
    assert await pool.fetchval("SELECT ended_at IS NULL FROM attempts")
    # The far end's hangup after the reconnect is seen: a normal end, the agent wraps up.
    await eventually(lambda: _is(state, AgentState.WRAP_UP), what="wrap-up")
    row = await pool.fetchrow("SELECT outcome, disposition FROM attempts")
    assert tuple(row) == ("ANSWERED", None)


async def _is(get: object, want: AgentState) -> bool:
    return await get() is want  # type: ignore[operator]


class _Deaf:
    """The handler of a process about to die: it hears nothing it acts on."""

    async def on_pbx_event(self, event: object) -> None:
        pass

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        pass


async def test_a_dead_process_call_on_the_second_node_is_hung_up_and_settled(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, second: AsteriskDouble
) -> None:
    node2 = AsteriskNode(name="pbx2", ari_url=second.ari_url, ari_password="ccdsecret")
    engine: Engine | None = None
    try:
        await add_trunk(pool)
        cid = await make_campaign(pool)
        (phone,) = phones(1)
        second.program(phone, FarEnd.answer(after=0.0, hangup_after=10_000.0))
        await add_leads(pool, cid, [phone])
        (lead,) = await claim_leads(pool, cid, 1, datetime.now(UTC))
        # A process (its instance lock long gone) placed the call on pbx2, then died.
        dead = AriPbx([node2])
        dead.set_handler(_Deaf())
        await dead.start()
        await dead.originate(
            lead.attempt_id, f"PJSIP/{phone}@city-trunk", caller_id="", timeout_s=15,
            variables={INSTANCE_VAR: "0b6f3c52-5d0e-4a53-9c39-2f4f1c0c2f1e"},
        )  # fmt: skip
        await eventually(
            lambda: _channel_up(second, lead.attempt_id), what="the call answered on pbx2"
        )
        await dead.close()

        pbx = AriPbx([node_for(double), node2], backoff_initial_s=0.05, backoff_max_s=0.2)
        engine = Engine(pool, db_url, pbx, config=EngineConfig(orphan_after_s=0.0))
        await engine.start()
        row = await eventually(
            lambda: pool.fetchrow(
                "SELECT outcome, disposition FROM attempts"
                " WHERE id = $1 AND disposition IS NOT NULL",
                lead.attempt_id,
            ),
            what="the orphaned attempt settled",
        )
        assert tuple(row) == ("LOST", "FAILED")  # a short retry: the customer was cut off
        assert lead.attempt_id not in second.pbx.channels  # the customer is not left in silence
        assert await pool.fetchval("SELECT status FROM leads WHERE id = $1", lead.lead_id) != (
            "in_progress"
        )
    finally:
        if engine is not None:
            await engine.stop()


async def _channel_up(double: AsteriskDouble, channel_id: str) -> bool:
    ch = double.pbx.channels.get(channel_id)
    return ch is not None and ch.state == "Up"


async def test_a_graceful_stop_ends_calls_asterisk_never_reported(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble
) -> None:
    """Events lost with a half-open link: ccd still holds two ringing calls at stop, their
    hang-up is never confirmed. The stop must not leave their attempts open (it did: the
    demo's report once showed one attempt with no end and no disposition)."""
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=2)
    numbers = phones(2)
    leads = await add_leads(pool, cid, numbers)
    for p in numbers:
        double.program(p, FarEnd.answer(after=500.0))
    agent, _ = await add_agent(pool, "a0", "Agent 0", "PJSIP/agent101", ())
    pbx = AriPbx([node_for(double)], backoff_initial_s=0.05, backoff_max_s=0.2)
    engine = Engine(pool, db_url, pbx, config=EngineConfig(idle_wait_s=0.05, drain_timeout_s=0.2))
    await engine.start()
    try:
        await engine.agents.login(agent)
        double.lose_events()
        await start_campaign(pool, "c1")
        await eventually(lambda: _all_ringing(double, numbers), what="both numbers ringing")
    finally:
        await engine.stop()
    rows = await pool.fetch(
        "SELECT outcome, disposition, ended_at FROM attempts WHERE campaign_id = $1", cid
    )
    assert len(rows) == 2
    assert all((r["outcome"], r["disposition"]) == ("LOST", "FAILED") for r in rows), rows
    assert all(r["ended_at"] is not None for r in rows)
    statuses = await pool.fetch("SELECT status FROM leads WHERE id = ANY($1)", leads)
    assert {r["status"] for r in statuses} == {"retry"}


async def _all_ringing(double: AsteriskDouble, numbers: list[str]) -> bool:
    return all([await _ringing(double, p) for p in numbers])
