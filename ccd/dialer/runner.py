"""One task per running campaign: decide how many calls to place, claim leads, originate.

- MANUAL: places nothing by itself; `dial_for_agent` dials the lead the agent picked.
- POWER: one call per READY agent, the agent reserved before the dial, so there are never more
  calls in progress than agents to take them (and nothing is ever dropped).
- PREDICTIVE: the pacer decides from a snapshot of live agent and call state, and learns from
  every ring, answer and finished call. A number dropped in the last 72 h is called again only
  with a READY agent reserved for it, power-style (the UK rule); with none free it waits
  AFTER_DROP_WAIT.

The loop sleeps on an asyncio.Event that agents becoming READY, calls ending and status
changes set; a short timeout lets leads that become due with time be noticed.
`CampaignSupervisor` LISTENs on ccd_campaign and starts/stops runners at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from ccd.dialer.agents import AgentError, AgentService
from ccd.dialer.calls import CallManager, LiveAttempt
from ccd.dialer.campaign import CampaignConfig, load_campaign, running_campaign_ids
from ccd.dialer.clock import Clock
from ccd.dialer.notify import EngineNotifier, NullNotifier
from ccd.dialer.trunks import NoRoute, TrunkTable
from ccd.domain.agents import AgentState
from ccd.domain.campaigns import CampaignMode, CampaignStatus
from ccd.log import get_logger
from ccd.pacing import Pacer, PacingSnapshot, campaign_pacer
from ccd.pacing.window import WindowedPacer
from ccd.store import attempts as attempt_store
from ccd.store.abandon import abandon_counts
from ccd.store.claim import ClaimedLead, claim_lead, claim_leads, unclaim
from ccd.store.db import CAMPAIGN_CHANNEL

log = get_logger(__name__)

# A recently dropped number claimed when no agent is free goes back for this long, so the
# next due leads are dialed meanwhile instead of claiming it again every round.
AFTER_DROP_WAIT = timedelta(minutes=1)
# The abandon window's counts from before the runner started are re-read this often (real
# seconds): as the window rolls, old answers and drops leave it.
WINDOW_REFRESH_S = 60.0


def pacer_for(campaign: CampaignConfig) -> Pacer:
    """The campaign's pacer; POWER and MANUAL campaigns pace by agents, not by a pacer."""
    return campaign_pacer(
        campaign.pacer, dial_ratio=campaign.dial_ratio, max_ratio=campaign.max_ratio,
        target_abandon=campaign.target_abandon,
    )  # fmt: skip


class DialError(Exception):
    """A MANUAL dial that cannot be done; the message says why."""


class CampaignRunner:
    def __init__(
        self,
        campaign: CampaignConfig,
        pool: asyncpg.Pool,
        calls: CallManager,
        agents: AgentService,
        trunks: TrunkTable,
        clock: Clock,
        *,
        pacer: Pacer | None = None,
        batch_max: int = 200,
        idle_wait_s: float = 1.0,
        notifier: EngineNotifier | None = None,
        pacer_time_scale: float = 1.0,
    ) -> None:
        self.campaign = campaign
        self._pool = pool
        self._calls = calls
        self._agents = agents
        self._trunks = trunks
        self._clock = clock
        self.pacer = pacer or pacer_for(campaign)
        self._batch_max = batch_max
        self._idle_wait_s = idle_wait_s
        self._kick = asyncio.Event()
        self._stopping = False
        self._unsubscribe = agents.subscribe_ready(lambda _s: self.kick())
        self.placed = 0
        self._notify: EngineNotifier = notifier or NullNotifier()
        self._dial_level = -1.0
        self._pacer_scale = pacer_time_scale
        self._started_at = clock.now()
        self._window_due = 0.0  # monotonic time of the next abandon-window count

    def _pacer_now(self) -> float:
        """Monotonic time in the pacer's units (campaign seconds, see pacer_time_scale)."""
        return time.monotonic() * self._pacer_scale

    def kick(self) -> None:
        self._kick.set()

    def stop(self) -> None:
        """Place no new calls; calls in progress finish under the CallManager."""
        self._stopping = True
        self._kick.set()

    async def run(self) -> None:
        log.info("campaign.runner_started", campaign_id=self.campaign.id, mode=self.campaign.mode)
        try:
            while not self._stopping:
                self._kick.clear()
                try:
                    placed = await self._round()
                except Exception:  # noqa: BLE001 - the campaign must outlive one bad round
                    log.exception("campaign.round_failed", campaign_id=self.campaign.id)
                    placed = 0
                if placed == 0 and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._idle_wait_s):
                            await self._kick.wait()
                else:
                    await asyncio.sleep(0)  # let events in before the next round
        finally:
            self._unsubscribe()
            log.info("campaign.runner_stopped", campaign_id=self.campaign.id, placed=self.placed)

    # --- how many ---

    def snapshot(self) -> PacingSnapshot:
        """Live state in the pacer's units: every elapsed time scaled by pacer_time_scale."""
        now = time.monotonic()
        k = self._pacer_scale
        cid = self.campaign.id
        ringing, waiting, talking = [], 0, []
        for call in self._calls.live_for(cid):
            if call.bridged_mono is not None:
                talking.append(now - call.bridged_mono)
            elif call.answered_mono is not None:
                waiting += 1
            else:
                ringing.append(now - (call.ringing_since or call.started))
        wrapping = [now - (c.ended_mono or now) for c in self._calls.wrapping_for(cid)]
        # Agents of this campaign talking on another campaign's call count as busy too.
        busy_elsewhere = sum(
            1 for s in self._agents.sessions()
            if s.serves(cid) and s.state in (AgentState.TALKING, AgentState.WRAP_UP)
        ) - len(talking) - len(wrapping)  # fmt: skip
        talking.extend([0.0] * max(0, busy_elsewhere))
        return PacingSnapshot(
            now=now * k,
            ready=self._agents.ready_count(cid),
            talking=tuple(t * k for t in talking),
            wrapping=tuple(w * k for w in wrapping),
            ringing=tuple(r * k for r in ringing),
            waiting=waiting,
            lines_free=self._trunks.free_total(self.campaign.trunk_id),
        )

    def _wanted(self) -> int:
        if not self._calls.pbx_up():
            return 0
        mode = self.campaign.mode
        if mode is CampaignMode.POWER:
            n = self._agents.ready_count(self.campaign.id)
        elif mode is CampaignMode.PREDICTIVE:
            snap = self.snapshot()
            n = self.pacer.calls_to_place(snap)
            level = round((len(snap.ringing) + snap.waiting + n) / max(1, snap.ready), 2)
            if level != self._dial_level:
                self._dial_level = level
                self._notify.dial_level(self.campaign.id, self.campaign.name, level)
        else:
            return 0
        return min(n, self._batch_max, self._trunks.free_total(self.campaign.trunk_id))

    # --- placing ---

    async def _count_window(self) -> None:
        """Give the pacer the campaign's answers and drops of its abandon window that came
        before this runner started (its own it counts itself). A failed read keeps the last."""
        pacer = self.pacer
        if not isinstance(pacer, WindowedPacer) or time.monotonic() < self._window_due:
            return
        self._window_due = time.monotonic() + WINDOW_REFRESH_S
        span_s = self.campaign.abandon_window.seconds  # campaign seconds, as the pacer counts
        since = self._clock.now() - timedelta(seconds=span_s / self._pacer_scale)
        try:
            counts = await abandon_counts(self._pool, self.campaign.id, since, self._started_at)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("campaign.window_unread", campaign_id=self.campaign.id, error=str(exc))
            return
        pacer.count_window(counts.answered, counts.dropped, span_s, self._pacer_now())
        log.info(
            "campaign.abandon_window", campaign_id=self.campaign.id,
            window=self.campaign.abandon_window.value, answered=counts.answered,
            dropped=counts.dropped,
        )  # fmt: skip

    async def _round(self) -> int:
        if self.campaign.mode is CampaignMode.PREDICTIVE:
            await self._count_window()
        n = self._wanted()
        if n <= 0:
            return 0
        now = self._clock.now()
        leads = await claim_leads(self._pool, self.campaign.id, n, now)
        if not leads:
            return 0
        agents: list[int | None] = [None] * len(leads)
        if self.campaign.mode is CampaignMode.PREDICTIVE:
            leads, agents = await self._hold_agents_after_drops(leads, now)
        elif self.campaign.mode is CampaignMode.POWER:
            for i, lead in enumerate(leads):
                s = await self._agents.reserve_longest_idle(self.campaign.id, lead.attempt_id)
                if s is None:
                    break
                agents[i] = s.agent_id
            spare = [lead for lead, a in zip(leads, agents, strict=True) if a is None]
            await unclaim(self._pool, spare)
            leads = [lead for lead, a in zip(leads, agents, strict=True) if a is not None]
            agents = [a for a in agents if a is not None]
        return await self._dial(leads, agents)

    async def _hold_agents_after_drops(
        self, leads: list[ClaimedLead], now: datetime
    ) -> tuple[list[ClaimedLead], list[int | None]]:
        """Reserve a READY agent for each lead dropped recently; those no agent is free for
        wait AFTER_DROP_WAIT. Returns the leads to dial and their reserved agents."""
        kept: list[ClaimedLead] = []
        agents: list[int | None] = []
        waiting: list[ClaimedLead] = []
        for lead in leads:
            agent_id = None
            if lead.after_drop:
                s = await self._agents.reserve_longest_idle(self.campaign.id, lead.attempt_id)
                if s is None:
                    waiting.append(lead)
                    continue
                agent_id = s.agent_id
            kept.append(lead)
            agents.append(agent_id)
        if waiting:
            log.info("campaign.after_drop_wait", campaign_id=self.campaign.id, leads=len(waiting))
            await unclaim(self._pool, waiting, due_at=now + AFTER_DROP_WAIT)
        return kept, agents

    async def _dial(self, leads: list[ClaimedLead], agents: list[int | None]) -> int:
        calls: list[tuple[LiveAttempt, str]] = []
        no_route: list[ClaimedLead] = []
        spread = self._node_spread()
        for lead, agent_id in zip(leads, agents, strict=True):
            try:
                trunk = self._trunks.acquire(lead.phone, self.campaign.trunk_id)
            except NoRoute:
                no_route.append(lead)
                if agent_id is not None:
                    await self._agents.release(agent_id, lead.attempt_id)
                continue
            # The call must land on the Asterisk of the agent who will take it: the reserved
            # agent's, the trunk's own (lines wired to one server), else where agents are.
            session = self._agents.session(agent_id) if agent_id is not None else None
            node = session.node if session is not None else trunk.node or spread.next()
            call = LiveAttempt(
                lead.attempt_id, self.campaign, lead, trunk.id, self, reserved_agent=agent_id,
                node=node,
            )  # fmt: skip
            calls.append((call, trunk.endpoint(lead.phone)))
        if no_route:
            log.warning("campaign.no_trunk", campaign_id=self.campaign.id, leads=len(no_route))
            await unclaim(self._pool, no_route)
        if not calls:
            return 0
        await attempt_store.mark_dialing(
            self._pool, [(c.attempt_id, c.trunk_id) for c, _ in calls], self._clock.now()
        )
        results = await asyncio.gather(*(self._calls.place(c, ep) for c, ep in calls))
        unsent = [c for (c, _), sent in zip(calls, results, strict=True) if not sent]
        for c in unsent:
            if c.reserved_agent is not None:
                await self._agents.release(c.reserved_agent, c.attempt_id)
        await unclaim(self._pool, [c.lead for c in unsent])
        placed = len(calls) - len(unsent)
        self.placed += placed
        return placed

    def _node_spread(self) -> NodeSpread:
        nodes = self._calls.connected_nodes()
        if len(nodes) < 2:
            return NodeSpread({}, {})  # nothing to choose
        agents = {n: 0 for n in nodes}
        for s in self._agents.sessions():
            if s.node in agents and s.state in _ON_SHIFT and s.serves(self.campaign.id):
                agents[s.node] += 1
        calls = {n: 0 for n in nodes}
        for c in self._calls.live_for(self.campaign.id):
            if c.node in calls:
                calls[c.node] += 1
        return NodeSpread(agents, calls)

    async def dial_for_agent(self, agent_id: int, lead_id: int) -> str:
        """MANUAL: dial the lead the agent picked; the answered call joins their bridge."""
        if self.campaign.mode is not CampaignMode.MANUAL:
            raise DialError(f"campaign {self.campaign.name} is not a MANUAL campaign")
        session = self._agents.session(agent_id)
        if session is None or session.state not in (AgentState.READY, AgentState.PAUSED):
            raise DialError("the agent must be logged in and READY or PAUSED to dial")
        if not session.serves(self.campaign.id):
            raise DialError(f"the agent does not work campaign {self.campaign.name}")
        lead = await claim_lead(
            self._pool, self.campaign.id, lead_id, self._clock.now(), agent_id=agent_id
        )
        if lead is None:
            raise DialError(
                f"lead {lead_id} cannot be dialed now (not in this campaign, already in a call,"
                " done, blacklisted, out of attempts or outside calling hours)"
            )
        try:
            await self._agents.reserve(agent_id, lead.attempt_id, manual=True)
        except AgentError as exc:
            await unclaim(self._pool, [lead])
            raise DialError(str(exc)) from None
        if await self._dial([lead], [agent_id]) == 0:
            raise DialError(f"lead {lead_id}: the call could not be placed")
        return lead.attempt_id

    # --- CallListener: what the calls tell the pacer ---

    def on_ring(self, ring_s: float, answered: bool) -> None:
        self.pacer.record_ring(ring_s * self._pacer_scale, answered, self._pacer_now())

    def on_answer(self, dropped: bool) -> None:
        self.pacer.record_answer(dropped, self._pacer_now())

    def on_call(self, talk_s: float, wrap_s: float) -> None:
        k = self._pacer_scale
        self.pacer.record_call(talk_s * k, wrap_s * k, self._pacer_now())

    def on_call_gone(self, call: LiveAttempt) -> None:
        self.kick()


_ON_SHIFT = (AgentState.READY, AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP)


class NodeSpread:
    """Nodes for a campaign's new calls, with several Asterisk nodes: each call goes where the
    most agents are to spare (agents on shift there less the campaign's calls there), so an
    answered call finds an agent whose bridge is on its own node."""

    def __init__(self, agents: dict[str, int], calls: dict[str, int]) -> None:
        self._agents = agents
        self._calls = dict(calls)

    def next(self) -> str | None:
        """None when there is nothing to choose (one node, or no agent on any): the Pbx picks."""
        if len(self._agents) < 2 or not any(self._agents.values()):
            return None
        node = max(self._agents, key=lambda n: self._agents[n] - self._calls[n])
        self._calls[node] += 1
        return node


class CampaignSupervisor:
    """Runs one CampaignRunner per running campaign, following status NOTIFYs at once."""

    def __init__(
        self, pool: asyncpg.Pool, db_url: str, make_runner: RunnerFactory, *, resync_s: float = 5.0
    ) -> None:
        self._pool = pool
        self._resync_s = resync_s
        self._db_url = db_url
        self._make_runner = make_runner
        self.runners: dict[int, CampaignRunner] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._listen_conn: asyncpg.Connection | None = None
        self._changes: asyncio.Queue[int] = asyncio.Queue()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._listen()
        for cid in await running_campaign_ids(self._pool):
            await self._apply(cid)
        self._loop_task = asyncio.create_task(self._follow())

    async def _listen(self) -> None:
        self._listen_conn = await asyncpg.connect(self._db_url)
        await self._listen_conn.add_listener(CAMPAIGN_CHANNEL, self._on_notify)

    def runner(self, campaign_id: int) -> CampaignRunner | None:
        return self.runners.get(campaign_id)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            self._changes.put_nowait(int(json.loads(str(payload))["id"]))  # a str from asyncpg
        except (ValueError, KeyError, TypeError):
            log.warning("campaign.bad_notify", payload=payload)

    async def _follow(self) -> None:
        """Apply each NOTIFY at once; every resync_s, compare with the table anyway (a
        NOTIFY sent while the listening connection was down is lost)."""
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for returns a result that arrives
            # together with a cancel and drops the cancel, so stop() would wait forever.
            changed: int | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._resync_s):
                    changed = await self._changes.get()
            try:
                if changed is not None:
                    await self._apply(changed)
                else:
                    await self._resync()
            except Exception:  # noqa: BLE001 - start/stop must keep being followed
                log.exception("campaign.follow_failed", campaign_id=changed)

    async def _resync(self) -> None:
        if self._listen_conn is None or self._listen_conn.is_closed():
            log.warning("campaign.listen_reconnect")
            await self._listen()
        for cid in set(await running_campaign_ids(self._pool)) | set(self.runners):
            await self._apply(cid)

    async def _apply(self, campaign_id: int) -> None:
        campaign = await load_campaign(self._pool, campaign_id)
        running = (
            campaign is not None
            and campaign.status is CampaignStatus.RUNNING
            and campaign.mode is not CampaignMode.INBOUND
        )
        current = self.runners.get(campaign_id)
        if running and current is None:
            assert campaign is not None
            runner = await self._make_runner(campaign)
            self.runners[campaign_id] = runner
            self._tasks[campaign_id] = asyncio.create_task(runner.run())
        elif not running and current is not None:
            await self._stop_one(campaign_id)

    async def _stop_one(self, campaign_id: int) -> None:
        runner = self.runners.pop(campaign_id)
        runner.stop()
        task = self._tasks.pop(campaign_id)
        await task

    async def stop(self) -> None:
        """Stop every runner: no new originates. Live calls are the CallManager's to finish."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for cid in list(self.runners):
            await self._stop_one(cid)
        if self._listen_conn is not None:
            await self._listen_conn.close()


RunnerFactory = Callable[[CampaignConfig], Awaitable[CampaignRunner]]
