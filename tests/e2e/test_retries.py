"""Retry schedules under `ccd run`: the campaign's --retry-rule delays, the default 2 hours,
and `exhausted` once --max-attempts calls were made, read back from PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import DoubleProcess

pytestmark = pytest.mark.e2e

SLACK = timedelta(seconds=2)


async def test_retry_rules_schedule_the_next_call_and_max_attempts_exhaust_the_lead(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd()
    busy, ringing, machine = "+74955000001", "+74955000002", "+74955000003"
    await double_proc.program(busy, "busy", after=0.5)
    await double_proc.program(ringing, "no_answer")
    await double_proc.program(machine, "machine", after=1.0, hangup_after=30.0)
    await daemon.setup_campaign(
        "retries", [busy, ringing, machine], "--mode", "PREDICTIVE", "--pacer", "ratio",
        "--ratio", "3", "--max-ratio", "3", "--amd", "--max-attempts", "2",
        "--retry-rule", "BUSY=retry:3s", "--retry-rule", "NO_ANSWER=retry:30m",
    )  # fmt: skip
    await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "retries")

    async def attempts() -> dict[str, list[dict[str, object]]]:
        rows = await daemon.sql(
            "SELECT phone, disposition, created_at, ended_at FROM attempts"
            " WHERE disposition IS NOT NULL ORDER BY ended_at"
        )
        out: dict[str, list[dict[str, object]]] = {}
        for r in rows:
            out.setdefault(r["phone"], []).append(dict(r))
        return out

    async def lead(phone: str) -> dict[str, object]:
        (row,) = await daemon.sql(
            "SELECT status, attempts, next_attempt_at FROM leads WHERE phone = $1", phone
        )
        return dict(row)

    async def settled() -> bool:
        got = await attempts()
        return len(got.get(busy, [])) == 2 and len(got.get(ringing, [])) == 1 and (
            len(got.get(machine, [])) == 1)

    # BUSY: due again 3 s after the first call ended; the second call used the last attempt.
    await eventually(settled, within=60, what="busy called twice, the others once")
    got = await attempts()
    first_busy, second_busy = got[busy]
    assert [a["disposition"] for a in got[busy]] == ["BUSY", "BUSY"]
    # Claimed once due: not before 3 s, and at most a runner's idle wait (1 s) after.
    gap = second_busy["created_at"] - first_busy["ended_at"]  # type: ignore[operator]
    assert timedelta(seconds=3) <= gap < timedelta(seconds=3) + SLACK, gap
    row = await lead(busy)
    assert (row["status"], row["attempts"]) == ("exhausted", 2)

    # NO_ANSWER: the campaign's rule, 30 minutes after the call ended.
    (no_answer,) = got[ringing]
    assert no_answer["disposition"] == "NO_ANSWER"
    row = await lead(ringing)
    assert (row["status"], row["attempts"]) == ("retry", 1)
    delay = row["next_attempt_at"] - no_answer["ended_at"]  # type: ignore[operator]
    assert abs(delay - timedelta(minutes=30)) < SLACK, delay

    # VOICEMAIL (AMD found a machine): no rule given, the default 2 hours.
    (voicemail,) = got[machine]
    assert voicemail["disposition"] == "VOICEMAIL"
    row = await lead(machine)
    assert (row["status"], row["attempts"]) == ("retry", 1)
    delay = row["next_attempt_at"] - voicemail["ended_at"]  # type: ignore[operator]
    assert abs(delay - timedelta(hours=2)) < SLACK, delay

    # `ccd campaign status` shows the exhausted contact.
    status = await daemon.cli("campaign", "status", "retries")
    assert "exhausted" in status, status
