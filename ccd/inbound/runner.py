"""One inbound call running its IVR flow: prompts, DTMF, queue, agent, the call's SQL record.

All state of the call lives in one `CallRunner`. Its Pbx events (and the ACD's agent offer)
arrive in one asyncio.Queue in order; the runner waits on it with timeouts (menu silence,
inter-digit gaps, max queue wait, announcements), never by sleeping and polling.

DTMF: a digit pressed while an interruptible prompt plays stops the prompt (barge-in) and is
kept in `digits`; the next menu or collect node reads buffered digits before waiting.

Every node visited and every input is a row in ivr_steps; the call's row in inbound_calls
gets its queue times, agent and one outcome when it ends:
answered > voicemail > callback > overflowed > abandoned_queue > abandoned_ivr | hangup,
and failed when the call could not be run (no route, no flow, an error).
"""

from __future__ import annotations

import asyncio
import re
import time as _time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import asyncpg

from ccd.dialer.clock import Clock
from ccd.domain.agents import AgentState
from ccd.domain.phones import InvalidNumber, normalize
from ccd.inbound.acd import Acd, AgentOffer, QueueEntry
from ccd.inbound.agent_calls import AgentCall, AgentCalls
from ccd.inbound.agents_port import AgentLike, AgentsPort, reservation_id
from ccd.inbound.flow import (
    CallbackNode,
    CollectNode,
    Flow,
    GotoNode,
    HangupNode,
    HoursNode,
    MenuNode,
    PlayNode,
    QueueNode,
    SetNode,
    VoicemailNode,
)
from ccd.log import get_logger
from ccd.store import inbound as store

if TYPE_CHECKING:
    from ccd.dialer.recording import Recorder
from ccd.telephony.pbx import (
    BridgeKind,
    CallBridged,
    CallEnded,
    CallUnbridged,
    DtmfReceived,
    Pbx,
    PbxError,
    PlaybackFinished,
)

log = get_logger(__name__)

_VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_STEPS = 1000  # a flow that passed the checker cannot spin, but a bug must not either
_PLAYBACK_LIMIT_S = 600.0  # a playback whose PlaybackFinished never comes (unknown scheme)


class CallGone(Exception):
    """The caller hung up; carries the CallEnded event."""

    def __init__(self, event: CallEnded) -> None:
        super().__init__(event.call_id)
        self.event = event


@dataclass
class RunnerConfig:
    agent_connect_timeout_s: float = 5.0
    wrapup_timeout_s: float = 120.0  # then the call is END automatically and the agent READY
    region: str | None = "RU"  # for callers' numbers without '+'


@dataclass
class Deps:
    """What every runner shares (built once by InboundService)."""

    pbx: Pbx
    pool: asyncpg.Pool
    acd: Acd
    agents: AgentsPort
    calls: AgentCalls
    clock: Clock
    config: RunnerConfig
    recorder: Recorder | None = None  # records calls answered by agents (the flow's policy)
    queue_bridges: dict[tuple[str, str], asyncio.Future[str]] = field(default_factory=dict)
    campaign_ids: dict[str, int | None] = field(default_factory=dict)


class CallRunner:
    def __init__(
        self,
        deps: Deps,
        *,
        call_id: str,
        node: str,
        did: str,
        caller: str,
        flow: Flow | None,
        campaign_id: int | None,
    ) -> None:
        self.d = deps
        self.call_id = call_id
        self.node = node
        self.did = did
        self.caller = caller
        self.flow = flow
        self.campaign_id = campaign_id
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.digits: list[str] = []
        self.variables: dict[str, str] = {}
        self.ended: CallEnded | None = None
        # what happened, for the outcome
        self.answered = False
        self.voicemail = False
        self.callback = False
        self.overflowed = False
        self.in_queue = False  # a hangup now is an abandon in the queue
        self.agent_call: AgentCall | None = None  # with the agent who answered (and wraps up)
        self.hung_up_by_flow = False

    # --- the run ---

    async def run(self) -> str:
        """Run the flow to the end of the call; returns the outcome written."""
        outcome = "failed"
        try:
            await self.d.pbx.answer(self.call_id)
            await self._walk()
            outcome = self._outcome()
        except CallGone:
            outcome = self._outcome()
        except PbxError as exc:
            # The channel went away under a command; its CallEnded is on its way.
            log.info("inbound.pbx_error", call_id=self.call_id, error=str(exc))
            outcome = self._outcome() if await self._await_end(5.0) else "failed"
        except Exception:
            log.exception("inbound.runner_failed", call_id=self.call_id)
            try:
                await self.d.pbx.hangup(self.call_id)
            except PbxError as exc:
                log.info("inbound.pbx_error", call_id=self.call_id, error=str(exc))
        return await self._finish(outcome)

    async def reject(self) -> str:
        """No usable flow for this DID: hang up and record the call as failed."""
        try:
            await self.d.pbx.hangup(self.call_id)
        except PbxError as exc:
            log.info("inbound.pbx_error", call_id=self.call_id, error=str(exc))
        return await self._finish("failed")

    async def _finish(self, outcome: str) -> str:
        if self.ended is None:
            await self._await_end(5.0)
        at = self.ended.at if self.ended is not None else self.d.clock.now()
        await store.call_ended(
            self.d.pool, self.call_id, outcome=outcome, at=at, variables=self.variables
        )
        if self.agent_call is not None:
            self.agent_call.end_written.set()  # an agent's disposition may be written now
        log.info("inbound.ended", call_id=self.call_id, outcome=outcome, did=self.did)
        return outcome

    def _outcome(self) -> str:
        for flag, name in (
            (self.answered, "answered"),
            (self.voicemail, "voicemail"),
            (self.callback, "callback"),
            (self.overflowed, "overflowed"),
            (self.in_queue, "abandoned_queue"),
            (self.hung_up_by_flow, "hangup"),
        ):
            if flag:
                return name
        return "abandoned_ivr"

    async def _walk(self) -> None:
        assert self.flow is not None
        name: str | None = self.flow.start
        steps = 0
        while name is not None:
            steps += 1
            if steps > _MAX_STEPS:
                raise RuntimeError(f"flow {self.flow.name!r} ran {_MAX_STEPS} nodes")
            node = self.flow.nodes[name]
            handler = getattr(self, f"_node_{node.kind}")
            name = await handler(name, node)

    # --- nodes: each returns the next node's name, or None when the call is done ---

    async def _node_play(self, name: str, node: PlayNode) -> str:
        await self._step(name, "play")
        await self._play(node.prompt, interruptible=node.interruptible)
        return node.next

    async def _node_goto(self, name: str, node: GotoNode) -> str:
        await self._step(name, "goto", result=node.next)
        return node.next

    async def _node_set(self, name: str, node: SetNode) -> str:
        value = self._subst(node.value)
        self.variables[node.var] = value
        await self._step(name, "set", input=node.var, result=value)
        return node.next

    async def _node_hours(self, name: str, node: HoursNode) -> str:
        open_ = is_open(node, self.d.clock.now())
        await self._step(name, "hours", result="open" if open_ else "closed")
        return node.open if open_ else node.closed

    async def _node_menu(self, name: str, node: MenuNode) -> str:
        timeouts = invalid = 0
        while True:
            if not self.digits:
                await self._play(node.prompt)
            digit = await self._digit(node.timeout_s)
            if digit is None:
                timeouts += 1
                if timeouts > node.max_timeouts:
                    await self._step(name, "menu", result=f"timeout -> {node.fallback}")
                    return node.fallback
                await self._step(name, "menu", result="timeout")
                continue
            target = node.options.get(digit)
            if target is not None:
                await self._step(name, "menu", input=digit, result=target)
                return target
            invalid += 1
            self.digits.clear()
            if invalid >= node.max_invalid:
                await self._step(name, "menu", input=digit, result=f"invalid -> {node.fallback}")
                return node.fallback
            await self._step(name, "menu", input=digit, result="invalid")
            await self._play(node.invalid_prompt)

    async def _node_collect(self, name: str, node: CollectNode) -> str:
        for _ in range(node.max_attempts):
            if not self.digits:
                await self._play(node.prompt)
            collected = ""
            timeout = node.first_digit_timeout_s
            while len(collected) < node.max_digits:
                digit = await self._digit(timeout)
                if digit is None or digit == node.terminator:
                    break
                collected += digit
                timeout = node.inter_digit_timeout_s
            ok = node.min_digits <= len(collected) <= node.max_digits and (
                node.pattern is None or re.fullmatch(node.pattern, collected) is not None
            )
            await self._step(name, "collect", input=collected, result="ok" if ok else "invalid")
            if ok:
                self.variables[node.into] = collected
                return node.next
            self.digits.clear()
            await self._play(node.invalid_prompt)
        await self._step(name, "collect", result=f"attempts used -> {node.fallback}")
        return node.fallback

    async def _node_hangup(self, name: str, node: HangupNode) -> None:
        await self._step(name, "hangup")
        if node.prompt:
            await self._play(node.prompt, interruptible=False)
        self.hung_up_by_flow = True
        await self.d.pbx.hangup(self.call_id)
        await self._await_end(5.0)
        return None

    async def _node_callback(self, name: str, node: CallbackNode) -> str:
        campaign_id = await self._campaign_id(node.campaign)
        try:
            phone = normalize(self.caller, self.d.config.region).e164
        except InvalidNumber as exc:
            await self._step(name, "callback", input=self.caller, result=f"no lead: {exc}")
        else:
            if campaign_id is None:
                await self._step(name, "callback", input=phone,
                                 result=f"no lead: no campaign {node.campaign!r}")  # fmt: skip
            else:
                lead_id = await store.request_callback(
                    self.d.pool, campaign_id, phone, f"inbound {self.did} call {self.call_id}"
                )
                self.callback = True
                await self._step(name, "callback", input=phone, result=f"lead {lead_id}")
        if node.prompt:
            await self._play(node.prompt, interruptible=False)
        return node.next

    async def _node_voicemail(self, name: str, node: VoicemailNode) -> str | None:
        await self._play(node.prompt, interruptible=False)
        bridge = f"vm-{self.call_id}"
        recording = f"voicemail-{self.did}-{self.call_id}"
        await self.d.pbx.create_bridge(bridge, BridgeKind.MIXING, node=self.node)
        try:
            await self.d.pbx.add_to_bridge(bridge, [self.call_id])
            await self.d.pbx.record_bridge(bridge, recording)
            await store.add_recording(
                self.d.pool, recording, call_id=self.call_id, kind="voicemail", caller=self.caller
            )
            self.voicemail = True
            await self._step(name, "voicemail", result=recording)
            ended = await self._await_end(node.max_s)
            if not ended:
                await self._step(name, "voicemail", result="max length")
        finally:
            await self.d.pbx.destroy_bridge(bridge)
        if self.ended is None and node.next is None:
            await self.d.pbx.hangup(self.call_id)
            await self._await_end(5.0)
            return None
        return node.next if self.ended is None else None

    async def _node_queue(self, name: str, node: QueueNode) -> str | None:
        acd, pbx = self.d.acd, self.d.pbx
        holding = await self._queue_bridge(node)
        await pbx.add_to_bridge(holding, [self.call_id])
        await store.queued(self.d.pool, self.call_id, queue=node.queue,
                           priority=node.priority, at=self.d.clock.now())  # fmt: skip
        self.in_queue = True
        entry = acd.join(
            self.call_id, queue=node.queue, priority=node.priority, campaign_id=self.campaign_id,
            max_wait_s=node.max_wait_s, deliver=self.inbox.put_nowait, node=self.node,
        )  # fmt: skip
        await self._step(name, "queue", input=node.queue, result=f"position {acd.position(entry)}")
        loop = asyncio.get_running_loop()
        every = node.announce_every_s
        next_announce = loop.time() + every if every else None
        announcing: str | None = None
        try:
            while True:
                now = loop.time()
                if now >= entry.deadline:
                    acd.leave(entry)
                    self.in_queue = False
                    self.overflowed = True
                    await self._step(name, "queue", result=f"max wait -> {node.overflow}")
                    await pbx.remove_from_bridge(holding, [self.call_id])
                    await store.dequeued(self.d.pool, self.call_id, at=self.d.clock.now())
                    return node.overflow
                if next_announce is not None and now >= next_announce:
                    next_announce = now + (every or 0)
                    if announcing is None:  # never two announcements at once
                        announcing = await self._announce(name, entry)
                wake = min(entry.deadline, next_announce or entry.deadline)
                ev = await self._next(wake - now)
                if isinstance(ev, PlaybackFinished) and ev.playback_id == announcing:
                    announcing = None
                elif isinstance(ev, AgentOffer):
                    agent = acd.take(entry)
                    if agent is None:
                        continue
                    if announcing is not None:
                        await pbx.stop_playback(announcing)
                        announcing = None
                    await self._to_agent(name, node, holding, agent)
                    acd.requeue_front(entry)
                    await pbx.add_to_bridge(holding, [self.call_id])
                    await self._step(name, "queue", result="back to the head of the queue")
        except CallGone:
            if not self.answered:
                waited = loop.time() - entry.joined_at
                await self._step(name, "queue", result=f"abandoned after {waited:.1f}s")
            raise
        finally:
            acd.leave(entry)

    # --- queue helpers ---

    async def _queue_bridge(self, node: QueueNode) -> str:
        """The queue's holding bridge with music on hold on the call's Asterisk node (made once)."""
        key = (node.queue, self.node)
        fut = self.d.queue_bridges.get(key)
        if fut is None:
            fut = self.d.queue_bridges[key] = asyncio.get_running_loop().create_future()
            bridge = f"queue-{node.queue}-{self.node}"
            try:
                await self.d.pbx.create_bridge(bridge, BridgeKind.HOLDING, node=self.node)
                await self.d.pbx.set_bridge_moh(bridge, True, moh_class=node.moh_class)
            except BaseException as exc:
                del self.d.queue_bridges[key]
                fut.set_exception(exc)
                fut.exception()  # retrieved here; waiters re-raise it
                raise
            fut.set_result(bridge)
        return await asyncio.shield(fut)

    async def _announce(self, name: str, entry: QueueEntry) -> str | None:
        position = self.d.acd.position(entry)
        wait = self.d.acd.estimated_wait(entry)
        media = ["sound:queue-thereare", f"digits:{position}", "sound:queue-callswaiting"]
        if wait != float("inf"):
            minutes = max(1, round(wait / 60))
            media += ["sound:queue-holdtime", f"digits:{minutes}", "sound:queue-minutes"]
        await self._step(name, "announce", result=f"position {position}, wait {wait:.0f}s")
        return await self.d.pbx.play(self.call_id, media)

    async def _to_agent(self, name: str, node: QueueNode, holding: str, agent: AgentLike) -> None:
        """Bridge the caller with the agent and stay until the call ends (CallGone).

        Returns only when the agent could not take the call or was lost during it: the
        caller then goes back to the head of the queue.
        """
        pbx, agents, rid = self.d.pbx, self.d.agents, reservation_id(self.call_id)
        try:
            await pbx.remove_from_bridge(holding, [self.call_id])
            await pbx.add_to_bridge(agent.bridge_id, [self.call_id])
        except PbxError as exc:
            await agents.release(agent.agent_id, rid)
            if await self._await_end(1.0):  # the caller hung up under the command
                assert self.ended is not None  # what _await_end waited for
                raise CallGone(self.ended) from exc
            await self._step(name, "agent", input=str(agent.agent_id), result=f"failed: {exc}")
            return
        try:
            bridged = await self._until(
                lambda ev: isinstance(ev, CallBridged) and ev.bridge_id == agent.bridge_id,
                self.d.config.agent_connect_timeout_s,
            )
        except CallGone:
            await agents.release(agent.agent_id, rid)
            raise
        if bridged is None:
            await agents.release(agent.agent_id, rid)
            await pbx.remove_from_bridge(agent.bridge_id, [self.call_id])
            await self._step(name, "agent", input=str(agent.agent_id), result="no answer")
            return
        self.answered = True
        self.in_queue = False
        answered_at = self.d.clock.now()
        started = _time.monotonic()
        await store.answered(self.d.pool, self.call_id, agent_id=agent.agent_id, at=answered_at)
        call = self.agent_call = await self.d.calls.answered(
            self.call_id, agent.agent_id, caller=self.caller, did=self.did, queue=node.queue,
            campaign_id=self.campaign_id, at=answered_at,
        )  # fmt: skip
        # TALKING last: whoever sees the agent talking finds the call (and its contact).
        await agents.bridged(agent.agent_id, rid, channel_id=self.call_id)
        await self._step(name, "agent", input=str(agent.agent_id), result="answered")
        if self.d.recorder is not None and self.flow is not None and self.flow.record != "none":
            await self.d.recorder.start(
                self.call_id, self.flow.record_policy, node=self.node, agent_id=agent.agent_id,
                campaign_id=self.campaign_id, attempt_id=None, caller=self.caller,
            )  # fmt: skip
        try:
            while True:
                ev = await self._next(None)
                if isinstance(ev, CallUnbridged) and ev.bridge_id == agent.bridge_id:
                    if agent.state is AgentState.TALKING and agent.attempt_id == rid:
                        continue  # the caller is leaving; CallEnded follows
                    # The agent's phone dropped: the caller goes back to the head of the queue.
                    self.d.calls.forget(call)
                    self.agent_call = None
                    self.answered = False
                    self.in_queue = True
                    await self._step(name, "agent", input=str(agent.agent_id), result="agent lost")
                    return
        except CallGone:
            self.d.acd.record_handle_time(node.queue, _time.monotonic() - started)
            self.d.calls.hung_up(call)
            if not await agents.call_ended(agent.agent_id, rid):
                self.d.calls.forget(call)  # the agent was not talking: no wrap-up
            raise

    # --- media and input ---

    async def _play(self, media: list[str], *, interruptible: bool = True) -> None:
        """Play and wait for the end; a digit stops an interruptible prompt (and is kept)."""
        if interruptible and self.digits:
            return  # the caller already answered ahead of the prompt
        pid = await self.d.pbx.play(self.call_id, [self._subst(m) for m in media])
        loop = asyncio.get_running_loop()
        limit = loop.time() + _PLAYBACK_LIMIT_S
        while True:
            ev = await self._next(limit - loop.time())
            if ev is None or isinstance(ev, PlaybackFinished) and ev.playback_id == pid:
                return
            if isinstance(ev, DtmfReceived):
                self.digits.append(ev.digit)
                if interruptible:
                    await self.d.pbx.stop_playback(pid)
                    return

    async def _digit(self, wait_s: float) -> str | None:
        if self.digits:
            return self.digits.pop(0)
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        while True:
            ev = await self._next(until - loop.time())
            if ev is None:
                return None
            if isinstance(ev, DtmfReceived):
                return ev.digit

    async def _next(self, wait_s: float | None) -> Any:
        """The next event for this call, None after wait_s; raises CallGone when it ended."""
        if self.ended is not None:
            raise CallGone(self.ended)
        if wait_s is not None and wait_s <= 0 and self.inbox.empty():
            return None
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can drop a cancel that arrives
            # with an event, and a cancelled flow would then run on.
            async with asyncio.timeout(wait_s):
                ev = await self.inbox.get()
        except TimeoutError:
            return None
        if isinstance(ev, CallEnded):
            self.ended = ev
            raise CallGone(ev)
        return ev

    async def _until(self, match: Any, wait_s: float) -> Any:
        """Wait for an event `match` accepts (other events are dropped); None on timeout."""
        loop = asyncio.get_running_loop()
        until = loop.time() + wait_s
        while True:
            ev = await self._next(until - loop.time())
            if ev is None or match(ev):
                return ev
            if isinstance(ev, DtmfReceived):
                self.digits.append(ev.digit)

    async def _await_end(self, wait_s: float) -> bool:
        """Wait up to `wait_s` for the call to end; True when it did."""
        if self.ended is not None:
            return True
        try:
            await self._until(lambda ev: False, wait_s)
        except CallGone:
            return True
        return False

    # --- records ---

    async def _step(
        self, node: str, kind: str, *, input: str | None = None, result: str | None = None
    ) -> None:
        await store.add_step(self.d.pool, self.call_id, node=node, kind=kind,
                             at=self.d.clock.now(), input=input, result=result)  # fmt: skip

    async def _campaign_id(self, name: str) -> int | None:
        if name not in self.d.campaign_ids:
            self.d.campaign_ids[name] = await store.campaign_id_by_name(self.d.pool, name)
        return self.d.campaign_ids[name]

    def _subst(self, text: str) -> str:
        values = {"caller": self.caller, "did": self.did, **self.variables}
        return _VAR_REF.sub(lambda m: values.get(m[1], ""), text)


def is_open(node: HoursNode, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(node.time_zone))
    if local.date() in node.holidays:
        return False
    t = local.time().replace(tzinfo=None)
    spans = node.spans().get(local.isoweekday(), [])
    return any(start <= t and (end is None or t < end) for start, end in spans)
