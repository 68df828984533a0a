"""The outbound engine's composition root: builds and wires every part, starts and stops them.

`Engine` is what `ccd run`, `ccd demo`, the tests and the benchmark all use; only the Pbx
differs (AriPbx towards real Asterisk nodes or the protocol double).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from ccd.dialer.agents import AgentService, quietly
from ccd.dialer.calls import CallManager
from ccd.dialer.campaign import CampaignConfig
from ccd.dialer.clock import Clock, SystemClock
from ccd.dialer.engine import EngineRouter
from ccd.dialer.notify import EngineNotifier, IsolatedNotifier, NullNotifier
from ccd.dialer.reconcile import InstanceLock, Reconciler
from ccd.dialer.runner import CampaignRunner, CampaignSupervisor
from ccd.dialer.trunks import TrunkTable
from ccd.log import get_logger
from ccd.pacing import DROP_AFTER_S
from ccd.telephony.pbx import Pbx

log = get_logger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    wrapup_timeout_s: float = 120.0  # then the call an agent talked on is END automatically
    orphan_after_s: float = 60.0  # an attempt no process holds is settled after this
    wrapup_grace_s: float = 180.0  # an owed disposition no process holds is settled after this
    reconcile_interval_s: float = 30.0
    batch_max: int = 200  # leads claimed (and attempts written) per round trip
    idle_wait_s: float = 1.0  # a runner with nothing to do looks again after this
    drain_timeout_s: float = 30.0  # shutdown: how long live calls get to finish
    login_timeout_s: float = 30.0
    drop_after_s: float = DROP_AFTER_S  # answered call with no agent this long: safe harbor
    campaign_resync_s: float = 5.0  # campaign statuses are re-read this often besides NOTIFY
    # Campaign seconds per real second, as the pacer sees time. 1 in production; an
    # accelerated simulation (ccd demo) sets its speed so ring, talk and wrap times and the
    # pacer's own horizons stay in the units its estimates and priors are made for.
    pacer_time_scale: float = 1.0


class Engine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        db_url: str,
        pbx: Pbx,
        *,
        clock: Clock | None = None,
        config: EngineConfig | None = None,
        instance_id: str | None = None,
        notifier: EngineNotifier | None = None,
    ) -> None:
        self.config = cfg = config or EngineConfig()
        self.pool = pool
        self.pbx = pbx
        self.clock = clock or SystemClock()
        self.instance = InstanceLock(db_url, instance_id)
        self.trunks = TrunkTable([], [])
        self.notifier: EngineNotifier = notifier or NullNotifier()
        self.agents = AgentService(
            pool, pbx, instance_id=self.instance.instance_id,
            login_timeout_s=cfg.login_timeout_s, notifier=self.notifier,
        )  # fmt: skip
        self.calls = CallManager(
            pool, pbx, self.agents, self.trunks, self.clock,
            instance_id=self.instance.instance_id, wrapup_timeout_s=cfg.wrapup_timeout_s,
            drop_after_s=cfg.drop_after_s, notifier=self.notifier,
        )  # fmt: skip
        self.router = EngineRouter(self.agents, self.calls)
        self.reconciler = Reconciler(
            pool, pbx, self.calls, self.agents, self.clock,
            orphan_after_s=cfg.orphan_after_s, wrapup_grace_s=cfg.wrapup_grace_s,
        )  # fmt: skip
        self.supervisor = CampaignSupervisor(
            pool, db_url, self._make_runner, resync_s=cfg.campaign_resync_s
        )
        self._periodic: asyncio.Task[None] | None = None
        pbx.set_handler(self.router)

    def set_notifier(
        self, notifier: EngineNotifier, on_failure: Callable[[str], None] | None = None
    ) -> None:
        """Who hears of agent and call changes (the live console, metrics). Its failures are
        logged and passed to `on_failure`; they never reach call handling."""
        isolated = IsolatedNotifier(notifier, on_failure)
        self.notifier = self.agents.notifier = self.calls.notifier = isolated

    async def start(self) -> None:
        """Lock our identity, connect the PBX, settle what a dead predecessor left, dial."""
        await self.instance.acquire()
        self.trunks.reload_from(await TrunkTable.load(self.pool))
        await self.pbx.start()
        await self.reconciler.run_once()
        self.router.reconciler = self.reconciler
        await self.supervisor.start()
        self._periodic = asyncio.create_task(
            self.reconciler.run_periodic(self.config.reconcile_interval_s)
        )
        log.info("engine.started", instance=self.instance.instance_id)

    async def _make_runner(self, campaign: CampaignConfig) -> CampaignRunner:
        self.trunks.reload_from(await TrunkTable.load(self.pool))
        return CampaignRunner(
            campaign, self.pool, self.calls, self.agents, self.trunks, self.clock,
            batch_max=self.config.batch_max, idle_wait_s=self.config.idle_wait_s,
            notifier=self.notifier, pacer_time_scale=self.config.pacer_time_scale,
        )  # fmt: skip

    async def stop(self) -> None:
        """Graceful: no new originates, live calls finish (up to drain_timeout_s), owed
        dispositions get their automatic END, agents are logged out, then disconnect."""
        await self.supervisor.stop()
        if not await self.calls.drained(self.config.drain_timeout_s):
            for call in self.calls.live():
                await quietly(self.pbx.hangup(call.attempt_id), "hangup", call_id=call.attempt_id)
            if not await self.calls.drained(5.0):
                # Asterisk never told us how these ended (an originate whose reply was lost,
                # events lost with the link): end them LOST now, as the next start's reconcile
                # would, so a graceful stop leaves no attempt open.
                lost = await self.calls.settle_missing(frozenset(), older_than_s=0.0)
                log.warning("engine.unconfirmed_calls_settled", calls=lost)
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
        await self.calls.close()
        await self.agents.logout_all("ccd stopping")
        await self.pbx.close()
        await self.instance.release()
        log.info("engine.stopped")
