"""Call recording through `ccd run`: recorded on the double (snoop-and-record on the customer's
channel), rows in PostgreSQL, files played and downloaded by supervisors only, pauses, crash
reconciliation, sampling and retention."""

from __future__ import annotations

import asyncio
import io
import wave
from typing import Any

import aiohttp
import pytest

from ccd.domain.recording import sampled
from tests.dialer.conftest import eventually
from tests.e2e.conftest import CcdFactory
from tests.e2e.harness import PASSWORD, CcdProcess, DoubleProcess
from tests.inbound.harness import DID, TEST_FLOW

pytestmark = pytest.mark.e2e


async def _fetch(daemon: CcdProcess, path: str, token: str) -> tuple[int, bytes, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(daemon.url + path, headers={"Authorization": f"Bearer {token}"}) as resp,
    ):
        return resp.status, await resp.read(), resp.headers


async def _talk_until_done(
    daemon: CcdProcess, token: str, calls: int, within: float = 60.0
) -> None:
    """The agent takes `calls` calls and closes each with END as soon as it is in wrap-up."""
    done = 0

    async def all_done() -> bool:
        nonlocal done
        if await daemon.agent_state(token) == "WRAP_UP":
            reply = await daemon.post("/api/agent/disposition", {"disposition": "END"},
                                      token=token)  # fmt: skip
            done += reply.status == 200
        return done >= calls

    await eventually(all_done, within=within, what=f"{calls} calls talked and closed")


async def test_record_all_power_calls_rows_files_and_access(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phones = ["+74951300001", "+74951300002", "+74951300003"]
    # Talk 2 s, 3 s, 4 s of real time (the double runs at 0.1).
    for i, phone in enumerate(phones):
        await double_proc.program(phone, "answer", after=2.0, hangup_after=20.0 + 10 * i)
    await daemon.setup_campaign("rec", phones, "--mode", "POWER", "--record", "all")
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "rec")
    await _talk_until_done(daemon, token, len(phones))

    async def settled() -> bool:
        rows = await daemon.sql("SELECT state FROM recordings WHERE kind = 'call'")
        return len(rows) == 3 and all(r["state"] == "done" for r in rows)

    await eventually(settled, within=20, what="three recordings done")
    rows = await daemon.sql(
        "SELECT r.name, r.attempt_id::text AS attempt_id, r.node, r.format, r.duration_s,"
        " r.size_bytes, r.agent_id, r.reconciled,"
        " extract(epoch FROM a.ended_at - a.bridged_at) AS talk_s"
        " FROM recordings r JOIN attempts a ON a.id = r.attempt_id ORDER BY a.bridged_at"
    )
    talked = await daemon.sql("SELECT id::text FROM attempts WHERE bridged_at IS NOT NULL")
    assert sorted(r["attempt_id"] for r in rows) == sorted(t["id"] for t in talked)
    for r in rows:
        assert r["name"] == r["attempt_id"] and r["node"] == "pbx1" and r["format"] == "wav"
        assert not r["reconciled"] and r["agent_id"] is not None
        assert abs(float(r["duration_s"]) - float(r["talk_s"])) <= 1.0, dict(r)
    assert [round(float(r["talk_s"])) for r in rows] == [2, 3, 4]

    # Each call was recorded through a snoop on the customer's channel (what they said and
    # heard: a barging supervisor, in the agent's bridge, is in it; a whisper is not).
    requests = await double_proc.control("GET", "/requests")
    for r in rows:
        (snoop,) = [q for q in requests if q["method"] == "POST"
                    and q["path"] == f"/ari/channels/{r['name']}/snoop/rec-{r['name']}"]
        assert (snoop["query"]["spy"], snoop["query"]["whisper"]) == ("both", "none")
        (record,) = [q for q in requests
                     if q["path"] == f"/ari/channels/rec-{r['name']}/record"]  # fmt: skip
        assert (record["query"]["name"], record["query"]["format"]) == (r["name"], "wav")
    name = rows[0]["name"]
    # The supervisor plays it: a valid WAV of the row's length and size.
    status, body, headers = await _fetch(daemon, f"/api/recordings/{name}/file", sup)
    assert status == 200, body[:200]
    assert headers["Content-Type"] == "audio/wav"
    assert headers["Content-Disposition"].startswith("inline")
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    with wave.open(io.BytesIO(body)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert abs(w.getnframes() / 8000 - float(rows[0]["duration_s"])) < 0.05
    assert len(body) == rows[0]["size_bytes"]
    # ... and downloads it.
    status, _, headers = await _fetch(daemon, f"/api/recordings/{name}/file?download=1", sup)
    assert status == 200 and headers["Content-Disposition"].startswith("attachment")
    # An agent can neither list nor play recordings.
    assert (await daemon.get("/api/recordings", token=token)).status == 403
    status, _, _ = await _fetch(daemon, f"/api/recordings/{name}/file", token)
    assert status == 403
    # Every play and download is in the access log, the agent's refused tries are not.
    log = await daemon.sql("SELECT name, login, action FROM recording_access ORDER BY id")
    assert [(r["name"], r["login"], r["action"]) for r in log] == [
        (name, "sofia", "play"), (name, "sofia", "download"),
    ]  # fmt: skip
    # The list by campaign and by disposition shows the three calls.
    listed = await daemon.get("/api/recordings?campaign=rec&disposition=END", token=sup)
    assert listed.status == 200, listed
    assert len(listed.body["recordings"]) == 3
    assert (await daemon.get("/api/recordings?date=yesterday", token=sup)).status == 400


async def test_pause_leaves_a_gap_in_the_metadata(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951300011"
    await double_proc.program(phone, "answer", after=2.0, hangup_after=600.0)
    await daemon.setup_campaign("rec", [phone], "--mode", "POWER", "--record", "all",
                                "--record-format", "ulaw")  # fmt: skip
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    # Nothing to pause before a call.
    assert (await daemon.post("/api/agent/recording/pause", token=token)).status == 409
    await daemon.cli("campaign", "start", "rec")
    await daemon.wait_agent(token, "TALKING")

    async def recording() -> bool:
        me = (await daemon.get("/api/agent/me", token=token)).body
        return me["call"] is not None and me["call"]["recording"] is not None

    await eventually(recording, within=10, what="the call's recording started")
    attempt_id = (await daemon.get("/api/agent/me", token=token)).body["call"]["attempt_id"]
    await asyncio.sleep(1.0)
    reply = await daemon.post("/api/agent/recording/pause", token=token)
    assert reply.status == 200 and reply.body == {"recording": attempt_id, "paused": True}
    me = (await daemon.get("/api/agent/me", token=token)).body
    assert me["call"]["recording"]["paused"] is True
    await asyncio.sleep(2.0)
    assert (await daemon.post("/api/agent/recording/resume", token=token)).status == 200
    await asyncio.sleep(1.0)
    await double_proc.hangup(attempt_id)
    await daemon.wait_agent(token, "WRAP_UP")

    async def done() -> bool:
        rows = await daemon.sql("SELECT state FROM recordings WHERE name = $1", attempt_id)
        return bool(rows) and rows[0]["state"] == "done"

    await eventually(done, within=10, what="recording done")
    meta = (await daemon.get(f"/api/recordings/{attempt_id}", token=sup)).body
    (gap,) = meta["gaps"]
    assert gap["paused_by"] == "anna" and gap["resumed_by"] == "anna"
    assert 1.9 <= gap["to_s"] - gap["from_s"] <= 3.0, gap
    (talk,) = await daemon.sql(
        "SELECT extract(epoch FROM ended_at - bridged_at) AS s FROM attempts WHERE id = $1::uuid",
        attempt_id,
    )
    # The file holds the call minus the pause (ulaw: 8000 bytes a second).
    assert meta["format"] == "ulaw"
    expected = float(talk["s"]) - (gap["to_s"] - gap["from_s"])
    assert abs(meta["duration_s"] - expected) <= 1.0, (meta, expected)
    assert meta["size_bytes"] == pytest.approx(meta["duration_s"] * 8000, abs=80)  # 2 decimals


async def test_a_recording_cut_by_a_crash_is_reconciled_at_start(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    first = await ccd("--wrapup-timeout", "30")
    phone = "+74951300021"
    await double_proc.program(phone, "answer", after=2.0, hangup_after=600.0)
    await first.setup_campaign("rec", [phone], "--mode", "POWER", "--record", "all")
    token = await first.login_agent("anna", "PJSIP/agent101")
    await first.cli("campaign", "start", "rec")
    await first.wait_agent(token, "TALKING")
    attempt_id = (await first.get("/api/agent/me", token=token)).body["call"]["attempt_id"]

    async def recording() -> bool:
        rows = await first.sql("SELECT state FROM recordings WHERE name = $1", attempt_id)
        snoops = [c for c in (await double_proc.state())["channels"]
                  if c["name"].startswith(f"Snoop/{attempt_id}")]  # fmt: skip
        return bool(rows) and rows[0]["state"] == "recording" and bool(snoops)

    await eventually(recording, within=10, what="the call recorded through a snoop")
    await asyncio.sleep(2.0)
    first.kill9()
    # The customer talks on a while, with no ccd, then hangs up: the snoop ends with the
    # customer's channel, so Asterisk closes the file although ccd is not there to stop it.
    await asyncio.sleep(1.0)
    await double_proc.hangup(attempt_id)
    (row,) = await first.sql("SELECT state FROM recordings WHERE name = $1", attempt_id)
    assert row["state"] == "recording"

    second = await ccd()

    async def reconciled() -> bool:
        rows = await second.sql("SELECT state FROM recordings WHERE name = $1", attempt_id)
        return rows[0]["state"] != "recording"

    await eventually(reconciled, within=10, what="the recording reconciled")
    (row,) = await second.sql(
        "SELECT state, reconciled, duration_s, size_bytes,"
        " extract(epoch FROM ended_at - started_at) AS span_s FROM recordings WHERE name = $1",
        attempt_id,
    )
    assert (row["state"], row["reconciled"]) == ("done", True)
    # About 3 s were recorded (2 s before the kill, 1 s after); the row says what the file
    # holds, not how long ccd was away.
    assert 2.5 <= float(row["duration_s"]) <= 4.5, dict(row)
    assert row["size_bytes"] == pytest.approx(float(row["duration_s"]) * 16000 + 44, abs=200)
    assert second.events("recording.ended")[0]["reconciled"] is True


@pytest.mark.slow
async def test_a_percentage_records_that_share_of_a_few_hundred_calls(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    calls, agents = 300, 8
    daemon = await ccd("--wrapup-timeout", "0.2")
    await double_proc.default_far_end("answer", after=1.0, hangup_after=2.0)
    phones = [f"+7495140{i:04d}" for i in range(calls)]
    await daemon.setup_campaign("sample", phones, "--mode", "POWER", "--record", "30%")
    for i in range(agents):
        await daemon.login_agent(f"agent{i}", f"PJSIP/agent{200 + i}")
    await daemon.cli("campaign", "start", "sample")

    async def all_talked() -> bool:
        (r,) = await daemon.sql(
            "SELECT count(*) FILTER (WHERE bridged_at IS NOT NULL AND disposition IS NOT NULL)"
            " AS n FROM attempts"
        )
        return bool(r["n"] >= calls)

    await eventually(all_talked, within=240, what=f"{calls} calls talked")

    async def settled() -> bool:
        rows = await daemon.sql("SELECT 1 FROM recordings WHERE state = 'recording'")
        return not rows

    await eventually(settled, within=20, what="recordings settled")
    talked = {r["id"] for r in await daemon.sql(
        "SELECT id::text FROM attempts WHERE bridged_at IS NOT NULL")}  # fmt: skip
    rows = await daemon.sql("SELECT attempt_id::text, state, note FROM recordings")
    recorded = {r["attempt_id"] for r in rows}
    assert recorded <= talked
    share = len(recorded) / len(talked)
    assert 0.22 <= share <= 0.38, (len(recorded), len(talked))
    # The sample is decided from the call's id, the same in every process.
    assert recorded == {a for a in talked if sampled(30, a)}
    # A customer gone before the snoop was made (talks here last 0.2 s) leaves a failed row
    # that says so; the rest are files.
    failed = [r for r in rows if r["state"] != "done"]
    assert all(r["state"] == "failed" and "Channel not found" in r["note"] for r in failed)
    assert len(failed) <= 0.05 * len(rows), failed


async def test_an_inbound_flow_records_its_agent_calls(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    caller = "+74951112299"
    daemon = await ccd("--wrapup-timeout", "30", start=False)
    flow = "record: all\nrecord_format: gsm\nrecord_notice: sound:beep\n" + TEST_FLOW.replace(
        "MAXWAIT", "60"
    )
    (daemon.flows_dir / "city.yaml").write_text(flow)
    await daemon.start()
    await daemon.setup_campaign("Support", [caller], trunk=False)
    await daemon.cli("inbound", "route", "add", DID, "city", "--campaign", "Support")
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    token = await daemon.login_agent("anna", "PJSIP/agent101", "Support")
    call = await double_proc.inbound_call(DID, caller, dtmf="1", dtmf_at=1.0, hangup_after=None)
    await daemon.wait_agent(token, "TALKING")
    await asyncio.sleep(2.0)
    await double_proc.hangup(call)
    await daemon.wait_agent(token, "WRAP_UP")

    async def done() -> bool:
        rows = await daemon.sql("SELECT state FROM recordings WHERE name = $1", call)
        return bool(rows) and rows[0]["state"] == "done"

    await eventually(done, within=10, what="the inbound call's recording done")
    meta = (await daemon.get(f"/api/recordings/{call}", token=sup)).body
    assert (meta["kind"], meta["call_id"], meta["attempt_id"], meta["format"]) == (
        "call", call, None, "gsm",
    )  # fmt: skip
    assert meta["campaign"] == "Support" and meta["phone"] == caller
    (talk,) = await daemon.sql(
        "SELECT extract(epoch FROM ended_at - answered_at) AS s FROM inbound_calls WHERE id = $1",
        call,
    )
    assert abs(meta["duration_s"] - float(talk["s"])) <= 1.0, (meta, talk["s"])
    status, body, headers = await _fetch(daemon, meta["file_url"], sup)
    assert status == 200 and headers["Content-Type"] == "audio/x-gsm"
    assert len(body) % 33 == 0 and len(body) == meta["size_bytes"]
    # The notice was played to the caller once the agent was connected.
    requests = await double_proc.control("GET", "/requests")
    assert any(r["path"].startswith(f"/ari/channels/{call}/play/")
               and r["query"].get("media") == "sound:beep" for r in requests)  # fmt: skip


async def test_prune_deletes_old_recordings_from_asterisk_and_marks_the_rows(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phones = ["+74951300031", "+74951300032", "+74951300033"]
    for phone in phones:
        await double_proc.program(phone, "answer", after=2.0, hangup_after=10.0)
    await daemon.setup_campaign("rec", phones, "--mode", "POWER", "--record", "all",
                                "--recording-retention", "7")  # fmt: skip
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "rec")
    await _talk_until_done(daemon, token, len(phones))

    async def settled() -> bool:
        rows = await daemon.sql("SELECT state FROM recordings WHERE state = 'done'")
        return len(rows) == 3

    await eventually(settled, within=20, what="three recordings done")
    old, gone, young = [r["name"] for r in await daemon.sql(
        "SELECT name FROM recordings ORDER BY started_at")]  # fmt: skip
    # Two recordings are 8 days old (past the campaign's 7), one is from today.
    await daemon.sql(
        "UPDATE recordings SET started_at = started_at - interval '8 days' WHERE name = ANY($1)",
        [old, gone],
    )
    # Someone removed one file on the Asterisk host by hand.
    ari = double_proc.info["ari_url"].rstrip("/")
    auth = {"Authorization": aiohttp.encode_basic_auth("ccd", PASSWORD)}
    async with aiohttp.ClientSession(headers=auth) as s:
        async with s.delete(f"{ari}/recordings/stored/{gone}") as resp:
            assert resp.status == 204

        async def stored() -> set[str]:
            async with s.get(f"{ari}/recordings/stored") as resp:
                return {r["name"] for r in await resp.json()}

        assert await stored() == {old, young}
        dry = await daemon.cli("db", "prune")
        assert "recordings past their retention: 2" in dry and "dry run" in dry
        assert await stored() == {old, young}
        out = await daemon.cli("db", "prune", "--yes")
        assert "recordings deleted from Asterisk: 1" in out, out
        assert f"{gone}: the node no longer had it" in out, out
        assert await stored() == {young}
    rows = {r["name"]: r for r in await daemon.sql(
        "SELECT name, state, pruned_at, note FROM recordings")}  # fmt: skip
    assert rows[old]["state"] == "pruned" and rows[old]["pruned_at"] is not None
    assert rows[gone]["state"] == "missing" and "no longer had" in rows[gone]["note"]
    assert rows[young]["state"] == "done" and rows[young]["pruned_at"] is None
    # A pruned file is gone for supervisors too; a second prune has nothing left to do.
    sup = await daemon.add_supervisor("sofia", "PJSIP/agent900")
    status, _, _ = await _fetch(daemon, f"/api/recordings/{old}/file", sup)
    assert status == 410
    again = await daemon.cli("db", "prune", "--yes")
    assert "recordings past their retention: 0" in again


async def test_a_recording_asterisk_cannot_write_is_a_failed_row_and_the_call_goes_on(
    ccd: CcdFactory, double_proc: DoubleProcess
) -> None:
    daemon = await ccd("--wrapup-timeout", "30")
    phone = "+74951300041"
    await double_proc.program(phone, "answer", after=2.0, hangup_after=20.0)
    await double_proc.control("POST", "/fail-recordings", {"cause": "spool not writable"})
    await daemon.setup_campaign("rec", [phone], "--mode", "POWER", "--record", "all",
                                "--record-notice", "sound:custom/recorded")  # fmt: skip
    token = await daemon.login_agent("anna", "PJSIP/agent101")
    await daemon.cli("campaign", "start", "rec")
    await _talk_until_done(daemon, token, 1)
    (row,) = await daemon.sql("SELECT state, note, size_bytes FROM recordings")
    assert (row["state"], row["size_bytes"]) == ("failed", None)
    assert row["note"] == "Asterisk: spool not writable"
    (attempt,) = await daemon.sql("SELECT outcome, disposition FROM attempts")
    assert (attempt["outcome"], attempt["disposition"]) == ("ANSWERED", "END")
    requests = await double_proc.control("GET", "/requests")
    # No notice that the call is recorded when it is not; the failed snoop is hung up.
    assert not any("/play/" in r["path"] for r in requests)
    assert any(r["method"] == "DELETE" and r["path"].startswith("/ari/channels/rec-")
               for r in requests)  # fmt: skip
