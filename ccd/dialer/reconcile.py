"""Settle what the database believes live against what Asterisk reports.

Runs at start-up, after every Pbx reconnect (through CallManager/AgentService.on_reconnected
for the calls this process holds) and every `interval_s` as a safety net, so nothing stays
"dialing" forever and nothing is dialed twice.

Several ccd processes may share one database and one Asterisk, so a call is only settled by a
process that is not its owner when its owner is dead: every call carries the channel variable
CCD_INSTANCE, and every process holds a PostgreSQL advisory lock named after its instance id
for as long as it lives (a killed process loses it when its connection drops).

- A call this process holds that Asterisk does not have, placed over `orphan_after_s` ago (an
  originate that timed out and never arrived): ended as LOST.
- An unended attempt this process does not hold: live in Asterisk and its owner provably dead
  (its lock is free) -> hung up and ended as LOST at once, whatever its age (a customer must
  not stay bridged to a dead process's agent); not live and older than `orphan_after_s` ->
  ended as LOST. Young attempts not live are left alone: their owner may be originating them.
  A LOST attempt gets FAILED (a short retry), unless it was bridged: a talked call keeps its
  answer and owes its disposition (see ccd.domain.outcomes).
- An ended attempt still owing an agent's disposition longer than `wrapup_grace_s`: END
  (the contact was made; see ccd.domain.outcomes).
- An agent the database shows logged in with no session here and no leg owned by a live
  process: logged out; an orphan leg is hung up.
- A lead left in_progress with no live or undisposed attempt: due again (retry).
- A call recording still 'recording' that no live process holds, once its node has stopped
  recording it: finished from the node's stored file, marked reconciled (ccd.dialer.recording).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from ccd.dialer.agents import AgentService, agent_of_leg, quietly
from ccd.dialer.calls import INSTANCE_VAR, CallManager
from ccd.dialer.clock import Clock
from ccd.dialer.recording import Recorder
from ccd.domain.dispositions import DispositionSource
from ccd.domain.outcomes import WRAPUP_TIMEOUT_DISPOSITION, auto_disposition
from ccd.log import get_logger
from ccd.store import agents as agent_store
from ccd.store import attempts as attempt_store
from ccd.telephony.pbx import LinkStatus, Pbx, PbxError

log = get_logger(__name__)


def _lock_key(instance_id: str) -> int:
    return int(instance_id.replace("-", "")[:15], 16)


class InstanceLock:
    """This process's identity, held as an advisory lock on a connection of its own."""

    def __init__(self, db_url: str, instance_id: str | None = None) -> None:
        self.instance_id = instance_id or str(uuid.uuid4())
        self._db_url = db_url
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> None:
        self._conn = await asyncpg.connect(self._db_url)
        await self._conn.execute("SELECT pg_advisory_lock($1)", _lock_key(self.instance_id))

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @staticmethod
    async def owner_alive(pool: asyncpg.Pool, instance_id: str | None) -> bool:
        """True while the process with this instance id holds its lock."""
        if not instance_id:
            return False
        try:
            key = _lock_key(instance_id)
        except ValueError:
            return False
        async with pool.acquire() as conn:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
            if got:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)
            return not got


@dataclass
class ReconcileReport:
    lost: int = 0
    hung_up: int = 0
    wrapups_closed: int = 0
    agents_logged_out: int = 0
    leads_freed: int = 0
    recordings_settled: int = 0


class Reconciler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pbx: Pbx,
        calls: CallManager,
        agents: AgentService,
        clock: Clock,
        *,
        orphan_after_s: float = 60.0,
        wrapup_grace_s: float = 180.0,
        recorder: Recorder | None = None,
    ) -> None:
        self._recorder = recorder
        self._pool = pool
        self._pbx = pbx
        self._calls = calls
        self._agents = agents
        self._clock = clock
        self._orphan_after = timedelta(seconds=orphan_after_s)
        self._wrapup_grace = timedelta(seconds=wrapup_grace_s)
        self._lock = asyncio.Lock()

    async def run_once(self) -> ReconcileReport:
        async with self._lock:
            report = ReconcileReport()
            # A node that is down reports no calls: judging "not live" then would be wrong.
            down = [n for n, st in self._pbx.link_status().items() if st != LinkStatus.CONNECTED]
            if down:
                log.info("reconcile.skipped", nodes_down=down)
                return report
            try:
                live = {c.call_id: c for c in await self._pbx.live_calls()}
            except PbxError as exc:
                log.warning("reconcile.no_pbx", error=str(exc))
                return report
            report.lost += await self._calls.settle_missing(
                frozenset(live), self._orphan_after.total_seconds()
            )
            owners: dict[str, bool] = {}  # instance id -> alive, for this pass
            await self._attempts(live, owners, report)
            await self._wrapups(report)
            await self._agent_legs(live, owners, report)
            report.leads_freed = await self._free_leads()
            if self._recorder is not None:
                report.recordings_settled = await self._recorder.reconcile()
            if any(vars(report).values()):
                log.info("reconcile.done", **vars(report))
            return report

    async def run_periodic(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - the safety net must keep running
                log.exception("reconcile.failed")

    async def _owner_dead(self, call_id: str, alive: dict[str, bool]) -> bool:
        """`alive` caches the owners' lock checks over one pass."""
        try:
            owner = await self._pbx.get_var(call_id, INSTANCE_VAR)
        except PbxError:
            return False  # gone meanwhile; the next pass sees it as not live
        key = owner or ""
        if key not in alive:
            alive[key] = await InstanceLock.owner_alive(self._pool, owner)
        return not alive[key]

    async def _attempts(
        self, live: Mapping[str, object], owners: dict[str, bool], report: ReconcileReport
    ) -> None:
        now = self._clock.now()
        for row in await attempt_store.unended(self._pool):
            attempt_id = row["id"]
            if self._calls.holds(attempt_id):
                continue
            bridged = row["state"] == "bridged"
            if attempt_id in live:
                # Checked before the age: the owner's death is proof enough.
                if await self._owner_dead(attempt_id, owners):
                    await quietly(self._pbx.hangup(attempt_id), "hangup", call_id=attempt_id)
                    report.hung_up += 1
                    await self._end_lost(attempt_id, bridged)
                    report.lost += 1
                continue
            if now - row["created_at"] >= self._orphan_after:
                await self._end_lost(attempt_id, bridged)
                report.lost += 1

    async def _end_lost(self, attempt_id: str, bridged: bool) -> None:
        now = self._clock.now()
        facts = attempt_store.EndFacts(at=now, outcome="LOST")
        if await attempt_store.finish(self._pool, attempt_id, facts, None):
            dispo = auto_disposition("LOST", bridged=bridged)
            if dispo is not None:
                await attempt_store.dispose(
                    self._pool, attempt_id, dispo, DispositionSource.AUTO, now
                )
            log.info("reconcile.attempt_lost", attempt_id=attempt_id, bridged=bridged)

    async def _wrapups(self, report: ReconcileReport) -> None:
        now = self._clock.now()
        for row in await attempt_store.undisposed(self._pool):
            if self._calls.owns_wrapup(row["id"]) or now - row["ended_at"] < self._wrapup_grace:
                continue
            dispo = (
                WRAPUP_TIMEOUT_DISPOSITION
                if row["bridged"]
                else auto_disposition(row["outcome"] or "FAILED", bridged=False)
            )
            assert dispo is not None
            if await attempt_store.dispose(
                self._pool, row["id"], dispo, DispositionSource.AUTO, now
            ):
                report.wrapups_closed += 1

    async def _agent_legs(
        self, live: Mapping[str, object], owners: dict[str, bool], report: ReconcileReport
    ) -> None:
        live_owned: set[int] = set()
        for call_id in live:
            agent_id = agent_of_leg(call_id)
            if agent_id is None:
                continue
            session = self._agents.session(agent_id)
            if session is not None and session.leg_id == call_id:
                continue
            if await self._owner_dead(call_id, owners):
                await quietly(self._pbx.hangup(call_id), "hangup", call_id=call_id)
                report.hung_up += 1
            else:
                live_owned.add(agent_id)
        for agent_id in await agent_store.logged_in_agents(self._pool):
            if self._agents.session(agent_id) is None and agent_id not in live_owned:
                await self._agents.log_out_stale(agent_id, "ccd restarted")
                report.agents_logged_out += 1

    async def _free_leads(self) -> int:
        result = await self._pool.execute(
            """
            UPDATE leads l SET status = 'retry'
            WHERE l.status = 'in_progress'
              AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.lead_id = l.id
                              AND (a.ended_at IS NULL OR a.disposition IS NULL))
            """
        )
        return int(result.split()[-1])
