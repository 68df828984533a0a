"""The ACD: callers waiting for agents, in order, and the agent offers that end their wait.

Order: higher priority first, then first come, first served; a caller whose agent did not
take the call goes back to the head of its priority. Each queued caller holds one waiter
in the agent service (`reserve_longest_idle(wait_s=...)`), registered in queue order, so
an agent turning READY goes to the caller at the head, and to waiting callers before the
outbound runner hears of the agent. When a caller is inserted ahead of others (priority,
return to the head), the waiters behind it are re-registered in the new order.

The ACD only matches; the caller's runner does the telephony. An offer reaches the runner
through the `deliver` callback given at `join` (the runner's event inbox). An agent reserved
for a caller who has meanwhile left (hung up, max wait) is released at once.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ccd.domain.agents import AgentState
from ccd.inbound.agents_port import AgentLike, AgentsPort, reservation_id
from ccd.log import get_logger
from ccd.pacing.estimate import Durations

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AgentOffer:
    """An agent reserved for this caller (delivered into the caller's inbox)."""

    call_id: str
    agent: AgentLike


@dataclass(eq=False)
class QueueEntry:
    call_id: str
    queue: str
    priority: int
    campaign_id: int | None
    deadline: float  # loop time at which the caller leaves for the overflow node
    deliver: Callable[[AgentOffer], None]
    joined_at: float
    order: tuple[int, int] = (0, 0)
    node: str | None = None  # the caller's Asterisk: only its agents can take the call
    offered: AgentLike | None = None  # reserved for this caller, not yet taken
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def rid(self) -> str:
        return reservation_id(self.call_id)


# (queue name, callers waiting, when the longest-waiting one joined): for wallboards.
QueueListener = Callable[[str, int, datetime | None], None]


class Acd:
    def __init__(
        self,
        agents: AgentsPort,
        *,
        prior_handle_s: float = 180.0,
    ) -> None:
        self._listener: QueueListener | None = None
        self._agents = agents
        self._prior_handle_s = prior_handle_s
        self._entries: list[QueueEntry] = []  # every queue, kept in service order
        self._seq = itertools.count()
        self._front = itertools.count(-1, -1)
        self._handle: dict[str, Durations] = {}
        self._background: set[asyncio.Task[None]] = set()

    def set_listener(self, listener: QueueListener) -> None:
        """Called after every change of a queue's callers (join, offer, requeue, leave)."""
        self._listener = listener

    def _changed(self, queue: str) -> None:
        if self._listener is None:
            return
        waiting = self.waiting(queue)
        oldest = None
        if waiting:
            age = asyncio.get_running_loop().time() - min(e.joined_at for e in waiting)
            oldest = datetime.now(UTC) - timedelta(seconds=age)
        self._listener(queue, len(waiting), oldest)

    # --- queries ---

    def waiting(self, queue: str | None = None) -> list[QueueEntry]:
        return [e for e in self._entries if queue is None or e.queue == queue]

    def position(self, entry: QueueEntry) -> int:
        """1-based place among the callers of the same queue; 0 when not queued."""
        if entry not in self._entries:
            return 0
        same = [e for e in self._entries if e.queue == entry.queue]
        return same.index(entry) + 1

    def estimated_wait(self, entry: QueueEntry) -> float:
        """Expected remaining wait (s) of a caller at position k: k * handle / N.

        That is the M/M/N (Erlang C) model's wait conditional on the caller's place: with
        every one of the N staffed agents busy (or the caller would not be waiting), calls
        end at rate N / handle, and the caller's turn comes at the k-th end. `handle` is the
        queue's observed mean talk time (a prior until calls have been seen); inf when no
        agent serving the queue is logged in and unpaused.
        """
        staffed = sum(
            1 for s in self._agents.sessions()
            if s.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
            and s.serves(entry.campaign_id)
        )  # fmt: skip
        if staffed == 0:
            return math.inf
        return self.position(entry) * self._handle_for(entry.queue).mean / staffed

    def record_handle_time(self, queue: str, seconds: float) -> None:
        self._handle_for(queue).add(seconds)

    # --- commands ---

    def join(
        self,
        call_id: str,
        *,
        queue: str,
        priority: int,
        campaign_id: int | None,
        max_wait_s: float,
        deliver: Callable[[AgentOffer], None],
        node: str | None = None,
    ) -> QueueEntry:
        now = asyncio.get_running_loop().time()
        entry = QueueEntry(
            call_id, queue, priority, campaign_id, now + max_wait_s, deliver, joined_at=now,
            order=(-priority, next(self._seq)), node=node,
        )  # fmt: skip
        self._insert(entry)
        log.info("acd.joined", call_id=call_id, queue=queue, priority=priority,
                 position=self.position(entry))  # fmt: skip
        return entry

    def requeue_front(self, entry: QueueEntry) -> None:
        """The offered agent did not take the call: back to the head of its priority."""
        entry.offered = None
        entry.order = (-entry.priority, next(self._front))
        self._insert(entry)
        log.info("acd.requeued", call_id=entry.call_id, queue=entry.queue)

    def take(self, entry: QueueEntry) -> AgentLike | None:
        """The runner takes the offered agent (None if it was withdrawn meanwhile)."""
        agent, entry.offered = entry.offered, None
        return agent

    def leave(self, entry: QueueEntry) -> None:
        """The caller is gone or overflows: stop waiting, free an agent offered meanwhile."""
        if entry in self._entries:
            self._entries.remove(entry)
            self._changed(entry.queue)
        self._stop_waiter(entry)
        if entry.offered is not None:
            self._release(entry.offered.agent_id, entry.rid)
            entry.offered = None

    async def close(self) -> None:
        for entry in list(self._entries):
            self.leave(entry)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # --- waiters in the agent service ---

    def _insert(self, entry: QueueEntry) -> None:
        at = len(self._entries)
        while at > 0 and self._entries[at - 1].order > entry.order:
            at -= 1
        self._entries.insert(at, entry)
        self._changed(entry.queue)
        behind = self._entries[at + 1 :]
        for e in behind:  # re-register in the new order: cancel first, start after
            self._stop_waiter(e)
        for e in (entry, *behind):
            e.task = asyncio.create_task(self._wait(e), name=f"acd-{e.call_id}")

    def _stop_waiter(self, entry: QueueEntry) -> None:
        task, entry.task = entry.task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _wait(self, entry: QueueEntry) -> None:
        remaining = entry.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return  # the runner's own timer sends the caller to the overflow node
        try:
            agent = await self._agents.reserve_longest_idle(
                entry.campaign_id, entry.rid, wait_s=remaining, node=entry.node
            )
        except asyncio.CancelledError:
            # A reservation can land in the same instant as the cancel; don't strand it.
            self._settle_strays(entry)
            raise
        except Exception as exc:  # noqa: BLE001 - the caller keeps its place and its timer
            log.error("acd.reserve_failed", call_id=entry.call_id, error=str(exc))
            return
        if agent is not None:
            self._offer(entry, agent)

    def _offer(self, entry: QueueEntry, agent: AgentLike) -> None:
        if entry not in self._entries or entry.offered is not None:
            self._release(agent.agent_id, entry.rid)
            return
        self._entries.remove(entry)
        self._changed(entry.queue)
        self._stop_waiter(entry)
        entry.offered = agent
        log.info("acd.offered", call_id=entry.call_id, agent_id=agent.agent_id, queue=entry.queue)
        entry.deliver(AgentOffer(entry.call_id, agent))

    def _settle_strays(self, entry: QueueEntry) -> None:
        held = entry.offered.agent_id if entry.offered is not None else None
        for s in self._agents.sessions():
            if s.attempt_id == entry.rid and s.state is AgentState.RESERVED and s.agent_id != held:
                self._offer(entry, s)

    def _release(self, agent_id: int, rid: str) -> None:
        task = asyncio.create_task(self._agents.release(agent_id, rid), name=f"release-{agent_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _handle_for(self, queue: str) -> Durations:
        handle = self._handle.get(queue)
        if handle is None:
            handle = self._handle[queue] = Durations(self._prior_handle_s, 1.0)
        return handle
