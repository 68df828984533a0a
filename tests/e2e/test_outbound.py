"""Outbound calls through `ccd run`, driven as users drive it: CLI, HTTP API, WebSockets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess, DoubleProcess

pytestmark = pytest.mark.e2e


async def setup_campaign(
    ccd: CcdProcess, tmp_path: Path, phones: list[str], *create_args: str, name: str = "spring"
) -> None:
    """A trunk, a route, a campaign and its leads, all through the CLI."""
    await ccd.cli("trunk", "add", "city1", "--kind", "city", "--template",
                  "PJSIP/{number}@city-trunk", "--channels", "30")  # fmt: skip
    await ccd.cli("route", "add", "+", "city1")
    await ccd.cli("campaign", "create", name, "--caller-id", "+74951234567",
                  "--hours", "00:00-23:59", *create_args)  # fmt: skip
    leads = tmp_path / f"{name}.csv"
    leads.write_text("phone,name\n" + "".join(f"{p},Customer {i}\n" for i, p in enumerate(phones)))
    await ccd.cli("campaign", "load", name, str(leads))


async def agent_state(ccd: CcdProcess, token: str) -> str:
    reply = await ccd.get("/api/agent/me", token=token)
    assert reply.status == 200, reply
    return str(reply.body["state"])


async def test_power_call_is_bridged_to_the_agent_and_the_disposition_sets_the_next_call(
    ccd: CcdFactory, double_proc: DoubleProcess, db_url: str, tmp_path: Path
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951000001"
    await double_proc.program(phone, "answer", after=5.0, hangup_after=600.0)
    await setup_campaign(daemon, tmp_path, [phone], "--mode", "POWER")
    token = await daemon.add_agent("anna", "PJSIP/agent101")
    assert (await daemon.post("/api/agent/login", token=token)).status == 200

    async def ready() -> bool:
        return await agent_state(daemon, token) == "READY"

    await eventually(ready, within=15, what="agent READY after login")
    await daemon.cli("campaign", "start", "spring")

    async def talking() -> bool:
        return await agent_state(daemon, token) == "TALKING"

    await eventually(talking, within=20, what="agent TALKING")
    me = (await daemon.get("/api/agent/me", token=token)).body
    assert me["call"]["lead"]["phone"] == phone
    attempt_id = me["call"]["attempt_id"]
    # The customer and the agent's leg are in the agent's bridge on the double.
    state = await double_proc.state()
    agent_bridge = next(b for b, chans in state["bridges"].items() if attempt_id in chans)
    assert agent_bridge.startswith("agent-")
    # The customer hangs up; the agent heard an answering machine and says so.
    await double_proc.hangup(attempt_id)

    async def wrapping() -> bool:
        return await agent_state(daemon, token) == "WRAP_UP"

    await eventually(wrapping, within=10, what="agent in WRAP_UP")
    reply = await daemon.post("/api/agent/disposition", {"disposition": "VOICEMAIL"}, token=token)
    assert reply.status == 200, reply
    assert await agent_state(daemon, token) == "READY"
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT a.outcome, a.disposition, a.disposition_source, a.ended_at, a.bridged_at,"
            " l.status, l.next_attempt_at FROM attempts a JOIN leads l ON l.id = a.lead_id"
            " WHERE a.id = $1",
            attempt_id,
        )
    finally:
        await conn.close()
    assert (row["outcome"], row["disposition"], row["disposition_source"]) == (
        "ANSWERED", "VOICEMAIL", "agent",
    )  # fmt: skip
    assert row["bridged_at"] is not None and row["status"] == "retry"
    # VOICEMAIL: called again 2 hours after the call ended.
    delay = row["next_attempt_at"] - row["ended_at"]
    assert abs(delay - timedelta(hours=2)) < timedelta(seconds=5), delay
