"""Inbound calls through `ccd run`: IVR -> queue -> agent -> disposition, and a listen on an
inbound call, driven as users drive it: CLI, HTTP API, WebSockets, the double's control API."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import CcdProcess, DoubleProcess
from tests.inbound.harness import DID, TEST_FLOW

pytestmark = pytest.mark.e2e

CALLER = "+74951112233"


async def inbound_desk(ccd: CcdFactory) -> CcdProcess:
    """`ccd run` with the city flow on DID 5550013, routed to campaign Support, whose lead
    "Customer 0" is the caller's number."""
    daemon = await ccd("--wrapup-timeout", "30", start=False)
    (daemon.flows_dir / "city.yaml").write_text(TEST_FLOW.replace("MAXWAIT", "60"))
    await daemon.start()
    await daemon.setup_campaign("Support", [CALLER], trunk=False)
    await daemon.cli("inbound", "route", "add", DID, "city", "--campaign", "Support")
    return daemon


async def call_in(double: DoubleProcess) -> str:
    """The caller presses 1 (the support queue) and stays on until hung up."""
    return await double.inbound_call(DID, CALLER, dtmf="1", dtmf_at=1.0, hangup_after=None)


async def test_inbound_ivr_queue_agent_and_the_disposition_via_the_api(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await inbound_desk(ccd)
    token = await daemon.login_agent("anna", "PJSIP/agent101", "Support")
    call = await call_in(double_proc)
    await daemon.wait_agent(token, "TALKING")
    me = (await daemon.get("/api/agent/me", token=token)).body
    c = me["call"]
    assert (c["direction"], c["call_id"], c["caller"], c["did"], c["queue"]) == (
        "inbound", call, CALLER, DID, "support",
    )  # fmt: skip
    assert c["contact"]["name"] == "Customer 0" and c["contact"]["phone"] == CALLER
    state = await double_proc.state()
    assert any(call in chans for b, chans in state["bridges"].items() if b.startswith("agent-"))

    await double_proc.hangup(call)
    await daemon.wait_agent(token, "WRAP_UP")
    # In wrap-up the caller's consent still goes to their contact (the caller's number).
    reply = await daemon.post(
        "/api/agent/consent", {"channels": ["sms"], "status": "opt_in"}, token=token
    )
    assert (reply.status, reply.body["phone"]) == (200, CALLER), reply
    (consent,) = await daemon.sql(
        "SELECT ce.status, ce.method, ce.proof->>'call_id' AS call_id FROM consent_events ce"
        " JOIN contacts c ON c.id = ce.contact_id WHERE c.phone = $1", CALLER,
    )  # fmt: skip
    assert tuple(consent) == ("opt_in", "agent", call)
    callback_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    reply = await daemon.post(
        "/api/agent/disposition",
        {"disposition": "CALLBACK", "callback_at": callback_at.isoformat(), "note": "a quote"},
        token=token,
    )
    assert reply.status == 200, reply
    assert (reply.body["direction"], reply.body["call_id"]) == ("inbound", call)
    assert await daemon.agent_state(token) == "READY"
    (row,) = await daemon.sql("SELECT * FROM inbound_calls WHERE id = $1", call)
    assert (row["outcome"], row["disposition"], row["disposition_source"], row["note"]) == (
        "answered", "CALLBACK", "agent", "a quote",
    )  # fmt: skip
    assert row["callback_at"] == callback_at and row["agent_id"] is not None
    (lead,) = await daemon.sql("SELECT status, next_attempt_at FROM leads WHERE phone = $1", CALLER)
    assert (lead["status"], lead["next_attempt_at"]) == ("callback", callback_at)
    assert await daemon.sql("SELECT * FROM blacklist") == []


async def test_a_listen_on_an_inbound_call_ends_when_the_caller_hangs_up(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await inbound_desk(ccd)
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101", "Support")
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            daemon.url.replace("http", "ws") + "/api/live",
            headers={"Authorization": f"Bearer {sup}"},
        ) as ws,
    ):
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        call = await call_in(double_proc)
        await daemon.wait_agent(token, "TALKING")
        row = (await next_message(ws, "call_started", within=10))["call"]
        assert (row["call_id"], row["direction"], row["phone"]) == (call, "inbound", CALLER)
        assert row["lead_name"] == "Customer 0" and row["agent_id"] is not None

        reply = await daemon.post("/api/spy", {"agent_id": row["agent_id"]}, token=sup)
        assert reply.status == 201, reply
        assert reply.body["call_id"] == call

        async def listening() -> bool:
            state = await double_proc.state()
            sup_leg = [c for c in state["channels"] if c["name"].startswith("PJSIP/agent900")]
            snoops = [c for c in state["channels"] if c["name"].startswith("Snoop/")]
            return bool(sup_leg and snoops and sup_leg[0]["bridge"] is not None
                        and sup_leg[0]["bridge"] == snoops[0]["bridge"])  # fmt: skip

        await eventually(listening, within=10, what="supervisor and snoop in one bridge")

        await double_proc.hangup(call)
        assert (await next_message(ws, "call_ended", within=10))["call_id"] == call

    async def listen_over() -> bool:
        state = await double_proc.state()
        names = [c["name"] for c in state["channels"]]
        spies = (await daemon.get("/api/spy", token=sup)).body["sessions"]
        return spies == [] and not any(n.startswith(("Snoop/", "PJSIP/agent900")) for n in names)

    await eventually(listen_over, within=10, what="spy session closed, snoop and phone hung up")
    (spy,) = await daemon.sql("SELECT call_id, ended_at FROM spy_sessions")
    assert spy["call_id"] == call and spy["ended_at"] is not None
    # The agent's own phone stays up for the wrap-up.
    assert await daemon.agent_state(token) == "WRAP_UP"


async def next_message(
    ws: aiohttp.ClientWebSocketResponse, kind: str, *, within: float
) -> dict[str, Any]:
    """The next live message of this type (agent and queue changes are passed over)."""
    seen: list[dict[str, Any]] = []

    async def arrived() -> bool:
        with contextlib.suppress(TimeoutError):
            seen.append(await ws.receive_json(timeout=0.2))
        return any(m["type"] == kind for m in seen)

    await eventually(arrived, within=within, what=f"a {kind} message")
    return next(m for m in seen if m["type"] == kind)
