"""The outbound engine end to end: AriPbx against the Asterisk double, real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from datetime import UTC, datetime, timedelta

import asyncpg
from structlog.testing import capture_logs

from ccd.dialer.agents import AgentError
from ccd.dialer.clock import ManualClock
from ccd.domain.agents import AgentState
from ccd.domain.campaigns import SAFE_HARBOR_FALLBACK_MEDIA, CampaignStatus
from ccd.domain.dispositions import Disposition
from ccd.sim.asterisk import AsteriskDouble, FarEnd
from ccd.store.agents import add_agent
from ccd.store.campaigns import set_status
from tests.dialer.conftest import EngineFactory, all_disposed, eventually, start_campaign
from tests.dialer.helpers import add_leads, add_trunk, make_campaign, phones


async def _agents(pool: asyncpg.Pool, n: int, campaign_ids: tuple[int, ...] = ()) -> list[int]:
    ids = []
    for i in range(n):
        agent_id, _ = await add_agent(pool, f"a{i}", f"Agent {i}", f"PJSIP/agent{101 + i}",
                                      campaign_ids)  # fmt: skip
        ids.append(agent_id)
    return ids


def _originates(double: AsteriskDouble) -> list[str]:
    return [
        r.query.get("endpoint") or (r.body or {}).get("endpoint", "")
        for r in double.requests
        if r.method == "POST" and r.path.rstrip("/").endswith("/channels")
    ]


async def test_answered_call_reaches_the_agent_who_sets_the_disposition(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    (lead,) = await add_leads(pool, cid, [phone])
    double.program(phone, FarEnd.answer(after=1.0, hangup_after=5.0))
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    async def wrapping() -> bool:
        s = engine.agents.session(agent)
        return s is not None and s.state is AgentState.WRAP_UP

    await eventually(wrapping, what="agent in wrap-up")
    row = await pool.fetchrow("SELECT * FROM attempts WHERE lead_id = $1", lead)
    assert row["outcome"] == "ANSWERED" and row["agent_id"] == agent
    assert row["bridged_at"] is not None and row["disposition"] is None
    assert await pool.fetchval("SELECT status FROM leads WHERE id = $1", lead) == "in_progress"
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)  # a callback ahead
    await engine.calls.agent_disposition(agent, Disposition.CALLBACK, callback_at=when)
    row = await pool.fetchrow("SELECT * FROM attempts WHERE lead_id = $1", lead)
    assert (row["disposition"], row["disposition_source"]) == ("CALLBACK", "agent")
    lead_row = await pool.fetchrow(
        "SELECT status, next_attempt_at, agent_id FROM leads WHERE id = $1", lead
    )
    assert tuple(lead_row) == ("callback", when, agent)  # the agent owns the callback
    assert engine.agents.session(agent).state is AgentState.READY  # type: ignore[union-attr]
    log = await pool.fetch(
        "SELECT from_state, to_state FROM agent_state_log WHERE agent_id = $1 ORDER BY id", agent
    )
    assert [(r["from_state"], r["to_state"]) for r in log] == [
        ("LOGGED_OUT", "READY"), ("READY", "RESERVED"), ("RESERVED", "TALKING"),
        ("TALKING", "WRAP_UP"), ("WRAP_UP", "READY"),
    ]  # fmt: skip
    # Exactly one disposition: a second one is refused.
    assert engine.calls.bridge_latencies and engine.calls.bridge_latencies[0] < 0.5


async def test_automatic_dispositions_and_the_global_blacklist(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=5, max_ratio=5, amd=True,
                              fax_detect=True)  # fmt: skip
    busy, noans, machine, fax, bad, human = phones(6)
    double.program(human, FarEnd.human(after=1.0, hangup_after=1000.0))
    double.program(busy, FarEnd.busy(after=0.5))
    double.program(noans, FarEnd.no_answer())
    double.program(machine, FarEnd.machine(after=1.0, hangup_after=30))
    double.program(fax, FarEnd.fax(after=1.0, tone="CED"))
    double.program(bad, FarEnd.unallocated())
    await add_leads(pool, cid, [busy, noans, machine, fax, bad, human])
    other = await make_campaign(pool, "other", pacer="ratio", dial_ratio=5, max_ratio=5)
    await add_leads(pool, other, [bad, fax])  # blacklisted by the first campaign's calls
    (agent,) = await _agents(pool, 1, (cid, other))
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: all_disposed(pool, cid, 5), what="five dispositions")
    rows = await pool.fetch(
        "SELECT a.phone, a.outcome, a.disposition, a.disposition_source, l.status"
        " FROM attempts a JOIN leads l ON l.id = a.lead_id WHERE a.campaign_id = $1"
        " AND a.phone <> $2",
        cid, human,
    )  # fmt: skip
    got = {r["phone"]: (r["outcome"], r["disposition"], r["status"]) for r in rows}
    assert got == {
        busy: ("BUSY", "BUSY", "retry"),
        noans: ("NO_ANSWER", "NO_ANSWER", "retry"),
        machine: ("MACHINE", "VOICEMAIL", "retry"),
        fax: ("FAX", "FAX", "blacklisted"),
        bad: ("BAD_NUMBER", "BAD_NUMBER", "blacklisted"),
    }
    assert {r["disposition_source"] for r in rows} == {"auto"}
    # Asterisk's own words for the cause are kept beside the Q.850 code (ChannelDestroyed).
    assert await pool.fetchrow(
        "SELECT cause, cause_txt FROM attempts WHERE phone = $1", busy
    ) == (17, "User busy")
    blacklisted = await pool.fetch("SELECT phone, reason FROM blacklist ORDER BY phone")
    assert {r["phone"]: r["reason"] for r in blacklisted} == {fax: "fax", bad: "bad_number"}
    # AMD said HUMAN: that call, and only that one, went to the agent (it is the sixth lead:
    # dialed once the first five freed lines, so it may still be on its way).
    async def talking() -> bool:
        s = engine.agents.session(agent)
        return s is not None and s.state is AgentState.TALKING

    await eventually(talking, what="the agent talking to the human")
    session = engine.agents.session(agent)
    assert session is not None
    row = await pool.fetchrow("SELECT id::text AS id, amd_status FROM attempts WHERE phone = $1",
                              human)  # fmt: skip
    assert session.attempt_id == row["id"]
    await start_campaign(pool, "other")
    await asyncio.sleep(0.5)
    assert await pool.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1", other) == 0
    assert sum(1 for e in _originates(double) if bad in e) == 1


async def test_power_never_more_calls_than_ready_agents(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="POWER")
    numbers = phones(40)
    for i, p in enumerate(numbers):
        double.program(p, FarEnd.answer(after=0.5, hangup_after=2.0) if i % 2 else FarEnd.busy())
    await add_leads(pool, cid, numbers)
    agents = await _agents(pool, 3)
    engine = await make_engine(wrapup_timeout_s=0.05)
    for a in agents:
        await engine.agents.login(a)
    await start_campaign(pool, "c1")
    most = 0
    while not await all_disposed(pool, cid, 40):
        live = len(engine.calls.live_for(cid))
        most = max(most, live)
        assert live <= 3
        await asyncio.sleep(0.005)
    assert most >= 2  # the agents were really used in parallel
    dropped = await pool.fetchval("SELECT count(*) FROM attempts WHERE outcome = 'DROPPED'")
    assert dropped == 0


async def test_manual_dials_only_what_the_agent_asks_for(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="MANUAL")
    numbers = phones(5)
    for p in numbers:
        double.program(p, FarEnd.answer(after=0.5, hangup_after=3.0))
    leads = await add_leads(pool, cid, numbers)
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent, paused_reason="preparing")
    await start_campaign(pool, "c1")
    await asyncio.sleep(0.3)
    assert _originates(double) == ["PJSIP/agent101"]  # only the agent's own phone
    runner = engine.supervisor.runner(cid)
    assert runner is not None
    attempt_id = await runner.dial_for_agent(agent, leads[3])

    async def talking() -> bool:
        return engine.agents.session(agent).state is AgentState.TALKING  # type: ignore[union-attr]

    await eventually(talking, what="agent talking")
    assert [e for e in _originates(double) if "city-trunk" in e] == [
        f"PJSIP/{numbers[3]}@city-trunk"
    ]
    row = await pool.fetchrow("SELECT lead_id, agent_id FROM attempts WHERE id = $1", attempt_id)
    assert (row["lead_id"], row["agent_id"]) == (leads[3], agent)


async def test_drop_plays_safe_harbor_within_two_seconds_and_counts_the_abandon(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=3, safe_harbor_media="sound:sorry")
    numbers = phones(3)
    for p in numbers:
        double.program(p, FarEnd.answer(after=0.2, hangup_after=1000.0))
    await add_leads(pool, cid, numbers)
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 2 FROM attempts WHERE outcome = 'DROPPED'"),
        what="two drops",
    )
    rows = await pool.fetch(
        "SELECT a.id::text AS id, a.answered_at, a.ended_at, a.disposition, l.status,"
        " l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
        " WHERE a.outcome = 'DROPPED'"
    )
    plays = {
        r.path.split("/channels/")[1].split("/")[0]: r
        for r in double.requests
        if r.method == "POST" and "/channels/" in r.path and "/play" in r.path
    }
    for r in rows:
        assert r["disposition"] == "DROPPED" and r["status"] == "retry"
        # Due again in an hour, not at once: the contact just heard the safe-harbor message.
        assert r["ended_at"] + timedelta(minutes=59) < r["next_attempt_at"]
        assert r["next_attempt_at"] <= r["ended_at"] + timedelta(hours=1, seconds=1)
        assert r["id"] in plays
        assert "sound:sorry" in str(plays[r["id"]].query) + str(plays[r["id"]].body)
        # The agent hunt lasts its 2 s; then the message, then the hangup.
        assert timedelta(seconds=1.9) <= r["ended_at"] - r["answered_at"] < timedelta(seconds=2.5)
    talking = await pool.fetchval("SELECT count(*) FROM attempts WHERE bridged_at IS NOT NULL")
    assert talking == 1


def _played(double: AsteriskDouble, call_id: str) -> list[str]:
    """The media of every play request on one channel, in order."""
    return [
        str(r.query.get("media") or (r.body or {}).get("media"))
        for r in double.requests
        if r.method == "POST" and f"/channels/{call_id}/play" in r.path
    ]


async def test_a_safe_harbor_message_that_fails_falls_back_to_a_stock_sound(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=2,
                              safe_harbor_media="sound:custom/not-recorded")  # fmt: skip
    double.missing_sounds.add("custom/not-recorded")  # as on a node without the file
    numbers = phones(2)
    for p in numbers:
        double.program(p, FarEnd.answer(after=0.2, hangup_after=1000.0))
    await add_leads(pool, cid, numbers)
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)  # two calls, one agent: one call is dropped
    with capture_logs() as logs:
        await start_campaign(pool, "c1")
        await eventually(
            lambda: pool.fetchval("SELECT count(*) = 1 FROM attempts WHERE outcome = 'DROPPED'"),
            what="the drop",
        )
    attempt_id = await pool.fetchval("SELECT id::text FROM attempts WHERE outcome = 'DROPPED'")
    assert _played(double, attempt_id) == ["sound:custom/not-recorded", SAFE_HARBOR_FALLBACK_MEDIA]
    (fallback,) = [e for e in logs if e["event"] == "attempt.safe_harbor_fallback"]
    assert (fallback["attempt_id"], fallback["media"]) == (attempt_id, "sound:custom/not-recorded")


async def test_a_number_dropped_within_72_h_is_called_only_with_an_agent_reserved(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=3)
    numbers = phones(3)
    for p in numbers:
        double.program(p, FarEnd.answer(after=3.0, hangup_after=1000.0))
    now = datetime.now(UTC)
    leads = []
    for i, (phone, dropped_ago) in enumerate(zip(numbers, (1, 73, 2), strict=True)):
        # Due in this order; each was DROPPED `dropped_ago` hours ago on its one attempt.
        (lead,) = await add_leads(pool, cid, [phone], status="retry", attempts=1,
                                  next_attempt_at=now - timedelta(minutes=10 - i))  # fmt: skip
        ended = now - timedelta(hours=dropped_ago)
        await pool.execute(
            "INSERT INTO attempts (id, campaign_id, lead_id, phone, state, created_at,"
            " answered_at, ended_at, outcome, disposition)"
            " VALUES (gen_random_uuid(), $1, $2, $3, 'ended', $4, $4, $4, 'DROPPED', 'DROPPED')",
            cid, lead, phone, ended,
        )  # fmt: skip
        leads.append(lead)
    first, old_drop, second = leads
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    async def two_ringing() -> bool:
        return len(engine.calls.live()) == 2

    await eventually(two_ringing, what="two calls placed")
    live = {c.lead.lead_id: c for c in engine.calls.live()}
    assert set(live) == {first, old_drop}  # the second recent drop has no agent left
    # Reserved before the dial (still ringing), power-style: never dropped again.
    assert live[first].reserved_agent == agent and live[first].answered_mono is None
    session = engine.agents.session(agent)
    assert session is not None and session.state is AgentState.RESERVED
    assert session.attempt_id == live[first].attempt_id
    assert live[old_drop].reserved_agent is None  # dropped over 72 h ago: paced as usual
    row = await pool.fetchrow("SELECT status, attempts, next_attempt_at FROM leads WHERE id = $1",
                              second)  # fmt: skip
    assert (row["status"], row["attempts"]) == ("retry", 1)  # given back, no attempt counted
    assert row["next_attempt_at"] > now + timedelta(seconds=50)  # waits, not claimed each round
    assert await pool.fetchval("SELECT count(*) FROM attempts WHERE lead_id = $1", second) == 1


async def test_a_fax_found_after_the_bridge_is_hung_up_and_the_agent_is_ready_at_once(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    # POWER bridges at the answer; the CED tone is reported ~0.9 s later. The trade-off kept:
    # no detection window before bridging (it would delay every person by as much), the fax
    # is hung up mid-bridge and the agent owes no wrap-up.
    await add_trunk(pool)
    cid = await make_campaign(pool, mode="POWER", fax_detect=True)
    (fax,) = phones(1)
    double.program(fax, FarEnd.fax(after=0.2, tone="CED"))
    (lead,) = await add_leads(pool, cid, [fax])
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(
        lambda: pool.fetchval("SELECT count(*) = 1 FROM attempts WHERE disposition IS NOT NULL"),
        what="the fax call disposed",
    )

    async def ready_again() -> bool:
        return engine.agents.session(agent).state is AgentState.READY  # type: ignore[union-attr]

    await eventually(ready_again, what="the agent READY")
    row = await pool.fetchrow("SELECT * FROM attempts WHERE lead_id = $1", lead)
    assert (row["outcome"], row["disposition"], row["tone"]) == ("FAX", "FAX", "fax")
    assert row["bridged_at"] is not None  # it did reach the agent before the tone
    assert row["ended_at"] - row["bridged_at"] < timedelta(seconds=1.5)
    assert not engine.calls.owns_wrapup(str(row["id"]))  # no disposition owed
    assert await pool.fetchval("SELECT reason FROM blacklist WHERE phone = $1", fax) == "fax"


async def test_calling_hours_follow_the_leads_morning(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(
        pool, pacer="ratio", dial_ratio=1, calling_hours_start=dt.time(9),
        calling_hours_end=dt.time(21),
    )  # fmt: skip
    (phone,) = phones(1)
    double.program(phone, FarEnd.busy())
    (lead,) = await add_leads(pool, cid, [phone], time_zone="Europe/Moscow")
    (agent,) = await _agents(pool, 1)
    clock = ManualClock(datetime(2026, 11, 23, 20, 0, tzinfo=UTC))  # 23:00 in Moscow
    engine = await make_engine(clock=clock)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await asyncio.sleep(0.4)
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 0
    clock.set(datetime(2026, 11, 24, 6, 5, tzinfo=UTC))  # 09:05 in Moscow
    await eventually(lambda: all_disposed(pool, cid, 1), what="the morning call")
    assert (
        await pool.fetchval("SELECT disposition FROM attempts WHERE lead_id = $1", lead) == "BUSY"
    )


async def test_longest_idle_agent_first_and_phone_hangup_logs_out(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.5, hangup_after=1000.0))
    await add_leads(pool, cid, [phone])
    agents = await _agents(pool, 3)
    engine = await make_engine()
    for a in agents:  # agents[0] has been READY the longest
        await engine.agents.login(a)
    await engine.agents.pause(agents[0], "lunch")
    await engine.agents.ready(agents[0])  # back from lunch: now the most recently idle
    await start_campaign(pool, "c1")

    async def talking() -> int | None:
        for a in agents:
            if engine.agents.session(a).state is AgentState.TALKING:  # type: ignore[union-attr]
                return a
        return None

    assert await eventually(talking, what="a talking agent") == agents[1]
    # The agent's phone hangs up: logged out cleanly, the customer's call ends too.
    leg = engine.agents.session(agents[1]).leg_id  # type: ignore[union-attr]
    assert leg is not None
    await double.hangup_far_end(leg)
    await eventually(lambda: all_disposed(pool, cid, 1), what="the call's disposition")
    session = engine.agents.session(agents[1])
    assert session is not None and session.state is AgentState.LOGGED_OUT
    assert session.reason == "phone hung up"
    row = await pool.fetchrow("SELECT outcome, disposition, disposition_source FROM attempts")
    assert tuple(row) == ("ANSWERED", "END", "auto")


async def test_one_disposition_per_attempt_and_the_agent_wins_over_the_timeout(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1, max_attempts=1)
    (phone,) = phones(1)
    double.program(phone, FarEnd.answer(after=0.2, hangup_after=20.0))
    (lead,) = await add_leads(pool, cid, [phone])
    (agent,) = await _agents(pool, 1)
    engine = await make_engine(wrapup_timeout_s=0.1)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: all_disposed(pool, cid, 1), what="wrap-up timeout")
    row = await pool.fetchrow("SELECT disposition, disposition_source FROM attempts")
    assert tuple(row) == ("END", "auto")
    assert engine.agents.session(agent).state is AgentState.READY  # type: ignore[union-attr]
    # The agent's late disposition replaces the automatic one, once.
    await engine.calls.agent_disposition(agent, Disposition.BAD_NUMBER)
    row = await pool.fetchrow("SELECT disposition, disposition_source FROM attempts")
    assert tuple(row) == ("BAD_NUMBER", "agent")
    assert await pool.fetchval("SELECT status FROM leads WHERE id = $1", lead) == "blacklisted"
    assert await pool.fetchval("SELECT reason FROM blacklist WHERE phone = $1", phone) == (
        "bad_number"
    )
    try:
        await engine.calls.agent_disposition(agent, Disposition.END)
    except AgentError as exc:
        assert "already" in str(exc)
    else:
        raise AssertionError("a second agent disposition was accepted")
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 1


async def test_customer_hanging_up_while_waiting_for_an_agent_is_not_a_drop(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=2)
    talker, impatient = phones(2)
    double.program(talker, FarEnd.answer(after=0.1, hangup_after=150.0))
    double.program(impatient, FarEnd.answer(after=3.0, hangup_after=50.0))  # waits 0.5 s
    await add_leads(pool, cid, [talker, impatient])
    (agent,) = await _agents(pool, 1)
    engine = await make_engine(wrapup_timeout_s=0.05)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: all_disposed(pool, cid, 2), what="both calls settled")
    row = await pool.fetchrow(
        "SELECT id::text AS id, outcome, disposition, agent_id FROM attempts WHERE phone = $1",
        impatient,
    )
    assert (row["outcome"], row["disposition"], row["agent_id"]) == ("ANSWERED", "NO_ANSWER", None)
    assert not [r for r in double.requests if row["id"] in r.path and "/play" in r.path]
    session = engine.agents.session(agent)
    assert session is not None and session.state is AgentState.READY and session.attempt_id is None


async def test_pause_asked_during_a_call_applies_after_the_disposition(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=1)
    first, second = phones(2)
    double.program(first, FarEnd.answer(after=0.2, hangup_after=30.0))
    double.program(second, FarEnd.answer(after=0.2, hangup_after=30.0))
    await add_leads(pool, cid, [first, second])
    (agent,) = await _agents(pool, 1)
    engine = await make_engine()
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")

    async def in_state(state: AgentState) -> bool:
        return engine.agents.session(agent).state is state  # type: ignore[union-attr]

    await eventually(lambda: in_state(AgentState.TALKING), what="talking")
    await engine.agents.pause(agent, "break")
    await eventually(lambda: in_state(AgentState.WRAP_UP), what="wrap-up")
    await engine.calls.agent_disposition(agent, Disposition.END)
    session = engine.agents.session(agent)
    assert session is not None and (session.state, session.reason) == (AgentState.PAUSED, "break")
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 1  # nothing for a paused agent


async def test_pause_stops_dialing_at_once_and_a_missed_notify_is_caught_up(
    pool: asyncpg.Pool, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    await add_trunk(pool)
    cid = await make_campaign(pool, pacer="ratio", dial_ratio=2)
    double.default_far_end = FarEnd.busy(after=5.0)
    await add_leads(pool, cid, phones(400))
    (agent,) = await _agents(pool, 1)
    engine = await make_engine(campaign_resync_s=0.3)
    await engine.agents.login(agent)
    await start_campaign(pool, "c1")
    await eventually(lambda: pool.fetchval("SELECT count(*) > 4 FROM attempts"), what="dialing")
    async with pool.acquire() as conn:
        await set_status(conn, "c1", CampaignStatus.PAUSED)
    await eventually(lambda: _no_runner(engine, cid), within=2, what="runner stopped")
    placed = await pool.fetchval("SELECT count(*) FROM attempts")
    await asyncio.sleep(0.3)
    assert await pool.fetchval("SELECT count(*) FROM attempts") == placed
    # Running again without a NOTIFY (e.g. sent while our listener was reconnecting).
    await pool.execute("UPDATE campaigns SET status = 'running' WHERE id = $1", cid)
    await eventually(
        lambda: pool.fetchval("SELECT count(*) > $1 FROM attempts", placed),
        within=3,
        what="dialing again after the resync",
    )


async def _no_runner(engine: object, campaign_id: int) -> bool:
    return engine.supervisor.runner(campaign_id) is None  # type: ignore[attr-defined]
