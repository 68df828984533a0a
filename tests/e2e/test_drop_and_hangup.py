"""A dropped call's safe harbor when its message is missing on the node, and an agent who ends
the call from the API: `ccd run` and the double in processes of their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import DoubleProcess

pytestmark = pytest.mark.e2e


async def test_a_drop_falls_back_to_a_stock_message_and_the_agent_hangs_up_from_the_api(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phones = ["+74955000001", "+74955000002"]
    for p in phones:
        await double_proc.program(p, "answer", after=2.0, hangup_after=600.0)
    # The campaign's own message was never recorded on this node: its playback fails at once.
    await double_proc.control("POST", "/missing-sounds", {"names": ["custom/not-recorded"]})
    await daemon.setup_campaign(
        "drops", phones, "--mode", "PREDICTIVE", "--pacer", "ratio", "--ratio", "2",
        "--safe-harbor", "sound:custom/not-recorded",
    )  # fmt: skip
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "drops")

    async def dropped() -> list[Any]:
        return await daemon.sql(
            "SELECT a.id::text AS id, a.ended_at, l.next_attempt_at FROM attempts a JOIN leads l"
            " ON l.id = a.lead_id WHERE a.outcome = 'DROPPED' AND a.disposition IS NOT NULL"
        )

    (drop,) = await eventually(dropped, within=30, what="a DROPPED attempt")
    played = [
        r["query"].get("media")
        for r in await double_proc.control("GET", "/requests")
        if r["method"] == "POST" and f"/channels/{drop['id']}/play" in r["path"]
    ]
    assert played == ["sound:custom/not-recorded", "sound:vm-goodbye"]
    (fallback,) = daemon.events("attempt.safe_harbor_fallback")
    assert (fallback["attempt_id"], fallback["media"]) == (drop["id"], "sound:custom/not-recorded")
    # Not called straight back: due again in an hour.
    delay = drop["next_attempt_at"] - drop["ended_at"]
    assert abs(delay - timedelta(hours=1)) < timedelta(seconds=5), delay

    # The other call reached the agent, who ends it from the console, not the phone.
    await daemon.wait_agent(token, "TALKING")
    talked = (await daemon.get("/api/agent/me", token=token)).body["call"]["attempt_id"]
    reply = await daemon.post("/api/agent/hangup", token=token)
    assert (reply.status, reply.body) == (200, {"call_id": talked})
    await daemon.wait_agent(token, "WRAP_UP")
    channels = {c["id"]: c for c in (await double_proc.state())["channels"]}
    assert talked not in channels
    (leg,) = [c for c in channels.values() if "agent101" in c["name"]]
    assert leg["bridge"] is not None and leg["bridge"].startswith("agent-")  # still connected
    reply = await daemon.post("/api/agent/disposition", {"disposition": "END"}, token=token)
    assert reply.status == 200, reply
    await daemon.wait_agent(token, "READY")
    (row,) = await daemon.sql("SELECT outcome, disposition FROM attempts WHERE id = $1::uuid",
                              talked)  # fmt: skip
    assert (row["outcome"], row["disposition"]) == ("ANSWERED", "END")
