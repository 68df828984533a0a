"""Outbound calls through `ccd run`, driven as users drive it: CLI, HTTP API, WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import DoubleProcess

pytestmark = pytest.mark.e2e


async def test_power_call_is_bridged_to_the_agent_and_the_disposition_sets_the_next_call(
    ccd: CcdFactory, double_proc: DoubleProcess, db_url: str, tmp_path: Path
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951000001"
    await double_proc.program(phone, "answer", after=5.0, hangup_after=600.0)
    await daemon.setup_campaign("spring", [phone], "--mode", "POWER")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "spring")
    await daemon.wait_agent(token, "TALKING")
    me = (await daemon.get("/api/agent/me", token=token)).body
    assert me["call"]["lead"]["phone"] == phone
    attempt_id = me["call"]["attempt_id"]
    # The customer and the agent's leg are in the agent's bridge on the double.
    state = await double_proc.state()
    agent_bridge = next(b for b, chans in state["bridges"].items() if attempt_id in chans)
    assert agent_bridge.startswith("agent-")
    # The customer hangs up; the agent heard an answering machine and says so.
    await double_proc.hangup(attempt_id)

    await daemon.wait_agent(token, "WRAP_UP")
    reply = await daemon.post("/api/agent/disposition", {"disposition": "VOICEMAIL"}, token=token)
    assert reply.status == 200, reply
    assert await daemon.agent_state(token) == "READY"
    (row,) = await daemon.sql(
        "SELECT a.outcome, a.disposition, a.disposition_source, a.ended_at, a.bridged_at,"
        " l.status, l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
        " WHERE a.id = $1::uuid",
        attempt_id,
    )
    assert (row["outcome"], row["disposition"], row["disposition_source"]) == (
        "ANSWERED", "VOICEMAIL", "agent",
    )  # fmt: skip
    assert row["bridged_at"] is not None and row["status"] == "retry"
    # VOICEMAIL: called again 2 hours after the call ended.
    delay = row["next_attempt_at"] - row["ended_at"]
    assert abs(delay - timedelta(hours=2)) < timedelta(seconds=5), delay


async def test_wallboard_supervisor_listen_and_metrics_follow_a_live_call(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951000002"
    await double_proc.program(phone, "answer", after=3.0, hangup_after=600.0)
    await daemon.setup_campaign("spring", [phone], "--mode", "POWER")
    # The double knows PJSIP endpoints agent*: the supervisor's desk phone is one of them.
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            daemon.url.replace("http", "ws") + "/api/live",
            headers={"Authorization": f"Bearer {sup}"},
        ) as ws,
    ):
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        assert [a["state"] for a in snapshot["agents"] if a["login"] == "anna"] == ["READY"]
        await daemon.cli("campaign", "start", "spring")
        await daemon.wait_agent(token, "TALKING")
        seen: list[dict[str, Any]] = []

        async def call_shown() -> bool:
            with contextlib.suppress(TimeoutError):
                seen.append(await ws.receive_json(timeout=0.2))
            return any(
                m["type"] == "call_started" and m["call"]["phone"] == phone
                and m["call"]["agent_id"] is not None for m in seen
            )  # fmt: skip

        await eventually(call_shown, within=10, what="the wallboard's row of the bridged call")
        assert any(m["type"] == "agent" and m["agent"]["state"] == "TALKING" for m in seen)
        agent_id = next(m["agent"]["agent_id"] for m in seen if m["type"] == "agent")

        # Listen: the supervisor's phone joins a spy bridge with a snoop on the agent's leg.
        reply = await daemon.post("/api/spy", {"agent_id": agent_id, "mode": "listen"}, token=sup)
        assert reply.status == 201, reply

        async def listening() -> bool:
            state = await double_proc.state()
            sup_leg = [c for c in state["channels"] if c["name"].startswith("PJSIP/agent900")]
            snoops = [c for c in state["channels"] if c["name"].startswith("Snoop/")]
            return bool(sup_leg and snoops and sup_leg[0]["bridge"] is not None
                        and sup_leg[0]["bridge"] == snoops[0]["bridge"])  # fmt: skip

        await eventually(listening, within=10, what="supervisor and snoop in one bridge")
        m = await daemon.metrics()
        assert m['ccd_calls_originated_total{campaign="spring"}'] >= 1
        assert m['ccd_calls_answered_total{campaign="spring"}'] >= 1
        assert m['ccd_calls_live{campaign="spring"}'] == 1
        assert m["ccd_campaigns_running"] == 1
        assert m['ccd_agents{state="TALKING"}'] == 1
        assert m['ccd_ari_request_seconds_count{node="pbx1",operation="POST channels"}'] >= 2
        assert m['ccd_link_reconnects_total{link="ari",node="pbx1"}'] == 0
        assert "ccd_event_queue_depth" in m

        # The customer hangs up: the row leaves the wallboard, the listen ends with the call.
        attempt_id = (await daemon.get("/api/agent/me", token=token)).body["call"]["attempt_id"]
        await double_proc.hangup(attempt_id)
        seen.clear()

        async def call_gone() -> bool:
            with contextlib.suppress(TimeoutError):
                seen.append(await ws.receive_json(timeout=0.2))
            return any(m["type"] == "call_ended" and m["call_id"] == attempt_id for m in seen)

        await eventually(call_gone, within=10, what="call_ended on the wallboard")
    await daemon.wait_agent(token, "WRAP_UP")
    m = await daemon.metrics()
    assert m['ccd_calls_live{campaign="spring"}'] == 0
    assert m['ccd_call_outcomes_total{campaign="spring",outcome="ANSWERED"}'] == 1
    status = await daemon.cli("campaign", "status", "spring")
    assert "spring" in status


async def test_predictive_with_amd_humans_reach_agents_machines_get_voicemail_retry(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "1")
    humans = [f"+7495200{i:04d}" for i in range(3)]
    machines = [f"+7495300{i:04d}" for i in range(3)]
    for p in humans:
        await double_proc.program(p, "answer", after=2.0, hangup_after=60.0)
    for p in machines:
        await double_proc.program(p, "machine", after=2.0, hangup_after=30.0)
    # One line per free agent: no answered person ever waits for an agent here (drops are
    # the next test's), so every human must reach one.
    await daemon.setup_campaign(
        "pred", humans + machines, "--mode", "PREDICTIVE", "--amd", "--pacer", "ratio",
        "--ratio", "1",
    )  # fmt: skip
    await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.login_agent("boris", "PJSIP/agent102")
    await daemon.cli("campaign", "start", "pred")

    async def all_ended() -> bool:
        rows = await daemon.sql("SELECT count(*) AS n FROM attempts WHERE disposition IS NOT NULL")
        return rows[0]["n"] >= 6

    await eventually(all_ended, within=60, what="six attempts disposed")
    rows = await daemon.sql(
        "SELECT l.phone, a.outcome, a.disposition, a.agent_id, a.bridged_at, a.ended_at,"
        " l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
    )
    by_phone = {r["phone"]: r for r in rows}
    for p in humans:
        r = by_phone[p]
        assert r["agent_id"] is not None and r["bridged_at"] is not None, dict(r)
    for p in machines:
        r = by_phone[p]
        assert (r["disposition"], r["agent_id"], r["bridged_at"]) == ("VOICEMAIL", None, None)
        delay = r["next_attempt_at"] - r["ended_at"]
        assert abs(delay - timedelta(hours=2)) < timedelta(seconds=5), delay


async def test_drop_plays_safe_harbor_and_counts_in_the_abandon_rate(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    """Two answered calls for one agent: one reaches the agent, the other is dropped."""
    daemon = await ccd("--wrapup-timeout", "30")
    phones = ["+74954000001", "+74954000002"]
    for p in phones:
        await double_proc.program(p, "answer", after=2.0, hangup_after=600.0)
    await daemon.setup_campaign(
        "drops", phones, "--mode", "PREDICTIVE", "--pacer", "ratio", "--ratio", "2"
    )
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "drops")

    async def dropped() -> list[Any]:
        return await daemon.sql(
            "SELECT id, answered_at, ended_at, disposition FROM attempts WHERE outcome = 'DROPPED'"
            " AND ended_at IS NOT NULL"
        )

    (drop,) = await eventually(dropped, within=30, what="a DROPPED attempt")
    assert drop["answered_at"] is not None
    # The safe-harbor message was played to the dropped customer before the hang-up.
    played = [
        r for r in await double_proc.control("GET", "/requests")
        if r["method"] == "POST" and f"/channels/{drop['id']}/play" in r["path"]
    ]  # fmt: skip
    assert played, "no safe-harbor playback on the dropped channel"
    await daemon.cli("campaign", "pause", "drops")
    m = await daemon.metrics()
    assert m['ccd_calls_dropped_total{campaign="drops"}'] == 1
    # The abandon rate is recounted from the attempts' rows as calls end.
    await daemon.wait_agent(token, "TALKING")
    talked = (await daemon.get("/api/agent/me", token=token)).body["call"]["attempt_id"]
    await double_proc.hangup(talked)

    async def abandon_reported() -> bool:
        got = (await daemon.metrics()).get('ccd_abandon_rate{campaign="drops"}')
        return got == 0.5

    await eventually(abandon_reported, within=10, what="abandon rate 1 drop / 2 answered")


async def test_manual_agent_dials_a_due_contact_from_the_worklist(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74955000001"
    await double_proc.program(phone, "answer", after=1.0, hangup_after=600.0)
    await daemon.setup_campaign("hand", [phone], "--mode", "MANUAL")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "hand")
    await asyncio.sleep(1.5)  # MANUAL never dials by itself
    assert await daemon.sql("SELECT id FROM attempts") == []
    contacts = (await daemon.get("/api/agent/worklist", token=token)).body["contacts"]
    (due,) = [c for c in contacts if c["phone"] == phone]
    assert due["due"] is True
    body = {"campaign_id": due["campaign_id"], "lead_id": due["lead_id"]}
    reply = await daemon.post("/api/agent/dial", body, token=token)
    assert reply.status == 201, reply
    await daemon.wait_agent(token, "TALKING")
    me = (await daemon.get("/api/agent/me", token=token)).body
    assert me["call"]["attempt_id"] == reply.body["attempt_id"]
    assert me["call"]["lead"]["phone"] == phone


async def test_supervisor_whispers_then_barges_and_pops_a_message_to_the_agent(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74956000001"
    await double_proc.program(phone, "answer", after=1.0, hangup_after=600.0)
    await daemon.setup_campaign("spring", [phone], "--mode", "POWER")
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    agent_id = (await daemon.get("/api/agent/me", token=token)).body["agent_id"]
    await daemon.cli("campaign", "start", "spring")
    await daemon.wait_agent(token, "TALKING")

    reply = await daemon.post("/api/spy", {"agent_id": agent_id, "mode": "whisper"}, token=sup)
    assert reply.status == 201, reply
    spy_id = reply.body["id"]

    async def sup_bridge() -> str | None:
        return await double_proc.bridge_of("PJSIP/agent900")

    whisper_bridge = await eventually(sup_bridge, within=10, what="supervisor leg bridged")
    assert whisper_bridge != f"agent-{agent_id}"  # whisper: a spy bridge, not the call's
    reply = await daemon.post(f"/api/spy/{spy_id}/mode", {"mode": "barge"}, token=sup)
    assert reply.status == 200, reply

    async def barged() -> bool:
        return await double_proc.bridge_of("PJSIP/agent900") == f"agent-{agent_id}"

    await eventually(barged, within=10, what="supervisor leg in the agent's bridge")

    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            daemon.url.replace("http", "ws") + "/api/agent/ws",
            headers={"Authorization": f"Bearer {token}"},
        ) as ws,
    ):
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        sent = await daemon.post("/api/messages", {"body": "Offer 10 % off", "agent_id": agent_id},
                                 token=sup)  # fmt: skip
        assert sent.status in (200, 201), sent
        msg = await ws.receive_json(timeout=5)
        while msg["type"] != "message":
            msg = await ws.receive_json(timeout=5)
        assert msg["message"]["body"] == "Offer 10 % off"
    # Barge ended by the supervisor: the call goes on between customer and agent.
    reply = await daemon.request("DELETE", f"/api/spy/{spy_id}", token=sup)
    assert reply.status == 200, reply

    async def sup_gone() -> bool:
        state = await double_proc.state()
        return not any(c["name"].startswith("PJSIP/agent900") for c in state["channels"])

    await eventually(sup_gone, within=10, what="supervisor leg hung up")
    assert await daemon.agent_state(token) == "TALKING"


async def test_the_customer_tells_the_agent_no_more_calls_and_no_campaign_calls_them_again(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone, other = "+74951000031", "+74951000032"
    await double_proc.program(phone, "answer", after=1.0, hangup_after=600.0)
    await daemon.setup_campaign("spring", [phone], "--mode", "POWER")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "spring")
    await daemon.wait_agent(token, "TALKING")
    bad = await daemon.post("/api/agent/consent", {"channels": ["phone"], "status": "opt_out"},
                            token=token)  # fmt: skip
    assert bad.status == 400 and bad.body["field"] == "channels.0", bad
    reply = await daemon.post(
        "/api/agent/consent",
        {"channels": ["call", "sms"], "status": "opt_out", "note": "no more calls, please"},
        token=token,
    )
    assert reply.status == 200, reply
    assert reply.body["phone"] == phone and reply.body["purpose"] == "marketing"
    rows = await daemon.sql(
        "SELECT channel, status, method, proof->>'login' AS login, proof->>'note' AS note"
        " FROM consent_events WHERE contact_id = $1 ORDER BY channel",
        reply.body["contact_id"],
    )
    assert [tuple(r) for r in rows] == [
        ("call", "opt_out", "agent", "anna", "no more calls, please"),
        ("sms", "opt_out", "agent", "anna", "no more calls, please"),
    ]
    assert "agent" in await daemon.cli("contacts", "show", phone)
    me = (await daemon.get("/api/agent/me", token=token)).body
    await double_proc.hangup(me["call"]["attempt_id"])
    await daemon.wait_agent(token, "WRAP_UP")
    done = await daemon.post("/api/agent/disposition", {"disposition": "END"}, token=token)
    assert done.status == 200, done

    # Another campaign holds the same number and a fresh one: only the fresh one is called.
    await double_proc.program(other, "answer", after=1.0, hangup_after=600.0)
    await daemon.setup_campaign("autumn", [phone, other], "--mode", "POWER", trunk=False)
    await daemon.cli("campaign", "start", "autumn")
    await daemon.wait_agent(token, "TALKING")
    dialed = await daemon.sql(
        "SELECT l.phone FROM attempts a JOIN leads l ON l.id = a.lead_id"
        " JOIN campaigns c ON c.id = a.campaign_id WHERE c.name = 'autumn'"
    )
    assert [r["phone"] for r in dialed] == [other]
    assert (await daemon.post("/api/agent/consent", {"channels": ["call"], "status": "opt_in"},
                              token=token)).status == 200  # fmt: skip
