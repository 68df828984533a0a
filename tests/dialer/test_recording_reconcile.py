"""Reconciliation of call recordings left 'recording' (ccd.dialer.recording.Recorder.reconcile):
a live owner's rows are left alone, a row whose node still records waits, the rest are settled
from the node's stored file (or 'failed' without one)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from ccd.dialer.reconcile import InstanceLock
from ccd.sim.asterisk import AsteriskDouble
from ccd.store import recordings as store
from tests.dialer.conftest import EngineFactory


async def _row(pool: asyncpg.Pool, name: str, instance: str, node: str) -> None:
    await store.started(pool, store.NewRecording(
        name=name, call_id=name, node=node, instance=instance, format="wav",
        started_at=datetime.now(UTC)))  # fmt: skip


async def _state(pool: asyncpg.Pool, name: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT state, reconciled, size_bytes, duration_s, note FROM recordings WHERE name = $1",
        name,
    )
    assert row is not None
    return row


async def test_reconcile_settles_what_no_live_process_holds(
    pool: asyncpg.Pool, db_url: str, double: AsteriskDouble, make_engine: EngineFactory
) -> None:
    engine = await make_engine()
    node = next(iter(engine.pbx.link_status()))
    alive = InstanceLock(db_url, str(uuid.uuid4()))
    await alive.acquire()
    dead = str(uuid.uuid4())
    try:
        await _row(pool, "held-by-live", alive.instance_id, node)
        await _row(pool, "still-recording", dead, node)
        await _row(pool, "finished", dead, node)
        await _row(pool, "no-file", dead, node)
        # On the node: one recording still running, one finished with 0.5 s of audio.
        recs = double.pbx.recordings
        recs.start("still-recording", "wav", "bridge:b1", "fail", to_app=False)
        done = recs.start("finished", "wav", "bridge:b2", "fail", to_app=False)
        recs.finish("finished")
        done.started_at = done.ended_at - 0.5  # type: ignore[operator]

        assert await engine.recorder.reconcile() == 2
        assert (await _state(pool, "held-by-live"))["state"] == "recording"
        assert (await _state(pool, "still-recording"))["state"] == "recording"
        row = await _state(pool, "finished")
        assert (row["state"], row["reconciled"], row["size_bytes"]) == ("done", True, 44 + 8000)
        assert float(row["duration_s"]) == 0.5
        row = await _state(pool, "no-file")
        assert (row["state"], row["reconciled"]) == ("failed", True)
        assert row["note"] == "the node has no file for it"

        # The node stops recording; the live owner dies: the next pass settles both.
        recs.finish("still-recording")
        await alive.release()
        assert await engine.recorder.reconcile() == 2
        assert (await _state(pool, "still-recording"))["state"] == "done"
        assert (await _state(pool, "held-by-live"))["state"] == "failed"
        assert await engine.recorder.reconcile() == 0
    finally:
        await alive.release()
