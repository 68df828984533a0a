"""Agent sessions: the nailed-up phone leg, the agent's bridge, state, and call routing to agents.

Public API (all coroutines unless noted; `agent_id` is agents.id):

    service = AgentService(pool, pbx, instance_id="", login_timeout_s=30.0, notifier=None)
        (inside ccd run the Engine builds it: engine.agents)
    await service.login(agent_id, paused_reason=None) -> AgentSession
        Calls the agent's phone (call id `agent-{id}-{n}`), waits for the answer, puts the leg in
        the agent's own bridge `agent-{id}` for the whole shift and waits until Asterisk confirms
        it is there (CallBridged); then READY (or PAUSED with the reason). Raises AgentError
        when the phone does not answer, or the leg does not reach the bridge, in time.
    await service.logout(agent_id, reason="logout")     hangs the leg up, LOGGED_OUT
    await service.ready(agent_id) / await service.pause(agent_id, reason)
        pause() during a call or wrap-up is remembered and applied after the disposition.
    await service.reserve_longest_idle(campaign_id, attempt_id, wait_s=0.0, node=None)
        -> AgentSession | None
        The READY agent idle the longest among those serving the campaign (campaign_id None =
        any agent) and, given a node, on that Asterisk (a bridge joins channels of one node)
        becomes RESERVED for attempt_id. With wait_s > 0 it waits that long for one to become
        READY (first come, first served among waiters).
    await service.reserve(agent_id, attempt_id, manual=False) -> AgentSession
        Reserve one given agent (POWER pre-reservation; manual=True also from PAUSED).
    service.cancel_wait(attempt_id)                  the waiting call is gone (plain function)
    await service.release(agent_id, attempt_id)      RESERVED -> READY, the call never came
    await service.connect(agent_id, call_id)         put the call into the agent's bridge; the
        agent turns TALKING when Asterisk confirms:
    await service.bridged(agent_id, call_id)         call it on the call's CallBridged event
    await service.call_ended(agent_id, attempt_id)   TALKING -> WRAP_UP (RESERVED -> READY)
    await service.hang_up_customer(agent_id) -> str  the agent ends the call: the customer's
        channel is hung up (the agent's leg stays in their bridge); the call's own end
        handling then takes the agent to WRAP_UP. Returns the customer's channel id.
    await service.dispose(agent_id, attempt_id)      WRAP_UP -> READY (or PAUSED if asked)
    service.subscribe_ready(callback) -> unsubscribe     (plain functions)
        callback(session) runs whenever an agent becomes READY and no waiting call took them.
    service.session(agent_id) / service.sessions() / service.ready_count(campaign_id)
    await service.log_out_stale(agent_id, reason)  (reconciliation after a restart)

Every state change goes through one function, `_transition`, which applies the pure state
machine (ccd.domain.agents), logs `agent.state from -> event -> to`, and writes agents.state
plus an agent_state_log row. Memory changes at once; the database writes are queued and
written in order, many per statement (agent_log.py). An agent whose phone hangs up is logged
out; one whose phone was lost with the PBX (restart: the shutdown's soft hangup came first;
link loss) is logged out and called again once the node is back. A new login waits until the
previous leg's bridge is torn down, so the old teardown never destroys the new bridge.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from ccd.dialer.agent_log import AgentLogWriter
from ccd.dialer.notify import EngineNotifier, NullNotifier
from ccd.domain.agents import AgentEvent, AgentState, InvalidTransition, Transition, next_state
from ccd.log import get_logger
from ccd.store import agents as agent_store
from ccd.telephony.pbx import CallAnswered, CallBridged, CallEnded, Pbx, PbxError, PbxEvent

log = get_logger(__name__)

ReadyCallback = Callable[["AgentSession"], None]
_LEG_PREFIX = "agent-"
LINK_LOST = "pbx link lost"  # such agents are called again after the reconnect
PHONE_HUNG_UP = "phone hung up"


class AgentError(Exception):
    """A command that cannot be done for this agent now; the message says why."""


async def quietly(command: Awaitable[None], what: str, **fields: object) -> None:
    """Run a clean-up command (hangup, destroy) whose failure must not stop the clean-up."""
    try:
        await command
    except PbxError as exc:
        log.warning("pbx.cleanup_failed", what=what, error=str(exc), **fields)


def bridge_id_for(agent_id: int) -> str:
    return f"agent-{agent_id}"


def agent_of_leg(call_id: str) -> int | None:
    """The agent whose phone leg this call id is (`agent-{id}-{n}`), else None."""
    if not call_id.startswith(_LEG_PREFIX):
        return None
    parts = call_id.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


@dataclass(eq=False)
class AgentSession:
    agent_id: int
    login: str
    name: str
    endpoint: str
    campaign_ids: frozenset[int]
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    leg_id: str | None = None
    node: str | None = None
    attempt_id: str | None = None  # the call reserved for, talking on, or wrapping up
    customer_channel: str | None = None  # the customer's channel while TALKING
    pause_after: str | None = None  # a pause asked for during a call
    idle_since: float = 0.0  # monotonic; longest idle first

    @property
    def bridge_id(self) -> str:
        return bridge_id_for(self.agent_id)

    def serves(self, campaign_id: int | None) -> bool:
        return campaign_id is None or not self.campaign_ids or campaign_id in self.campaign_ids

    def on(self, node: str | None) -> bool:
        """Whether a call on `node` can join this agent's bridge (None: any node)."""
        return node is None or self.node == node


@dataclass(eq=False)
class _Waiter:
    campaign_id: int | None
    node: str | None
    attempt_id: str
    future: asyncio.Future[AgentSession | None]


class AgentService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        pbx: Pbx,
        *,
        instance_id: str = "",
        login_timeout_s: float = 30.0,
        notifier: EngineNotifier | None = None,
    ) -> None:
        self._pool = pool
        self._log = AgentLogWriter(pool)
        self.notifier: EngineNotifier = notifier or NullNotifier()
        self._instance_id = instance_id
        self._pbx = pbx
        self._login_timeout_s = login_timeout_s
        self._sessions: dict[int, AgentSession] = {}
        self._waiters: list[_Waiter] = []
        self._subscribers: list[ReadyCallback] = []
        self._answers: dict[str, asyncio.Future[None]] = {}
        self._in_bridge: dict[str, asyncio.Future[None]] = {}  # leg id -> confirmed in bridge
        self._teardowns: dict[int, asyncio.Task[None]] = {}  # an ended leg's clean-up
        self._relogins: dict[int, asyncio.Task[None]] = {}
        self._leg_seq = itertools.count(int(time.time() * 1000))

    # --- queries (plain functions) ---

    def session(self, agent_id: int) -> AgentSession | None:
        return self._sessions.get(agent_id)

    def sessions(self) -> list[AgentSession]:
        return list(self._sessions.values())

    def ready_count(self, campaign_id: int | None) -> int:
        return sum(
            1 for s in self._sessions.values()
            if s.state is AgentState.READY and s.serves(campaign_id)
        )  # fmt: skip

    def subscribe_ready(self, callback: ReadyCallback) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @staticmethod
    def owns(call_id: str) -> bool:
        return agent_of_leg(call_id) is not None

    # --- commands ---

    async def login(self, agent_id: int, *, paused_reason: str | None = None) -> AgentSession:
        current = self._sessions.get(agent_id)
        if current is not None and current.state is not AgentState.LOGGED_OUT:
            raise AgentError(f"agent {agent_id} is already logged in")
        row = await agent_store.get_agent(self._pool, agent_id)
        if row is None:
            raise AgentError(f"no agent with id {agent_id}")
        session = AgentSession(row.id, row.login, row.name, row.endpoint, row.campaign_ids)
        self._sessions[agent_id] = session
        leg_id = f"{_LEG_PREFIX}{agent_id}-{next(self._leg_seq)}"
        session.leg_id = leg_id
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        in_bridge: asyncio.Future[None] = loop.create_future()
        self._answers[leg_id] = answered
        self._in_bridge[leg_id] = in_bridge
        try:
            teardown = self._teardowns.get(agent_id)
            if teardown is not None:
                await asyncio.shield(teardown)
            session.node = await self._pbx.originate(
                leg_id, row.endpoint, caller_id=f"ccd <{row.login}>",
                timeout_s=int(self._login_timeout_s),
                variables={"CCD_INSTANCE": self._instance_id},
            )  # fmt: skip
            await asyncio.wait_for(answered, self._login_timeout_s)
            # A bridge joins channels of one Asterisk only: the agent's node is where the
            # phone leg went, and calls for the agent are placed there (see reserve_*).
            await self._pbx.create_bridge(session.bridge_id, node=session.node)
            await self._pbx.add_to_bridge(session.bridge_id, [leg_id])
            # Command, then confirm by event: READY only once the leg is in the bridge.
            await asyncio.wait_for(in_bridge, self._login_timeout_s)
        except (TimeoutError, PbxError) as exc:
            session.leg_id = None
            await quietly(self._pbx.hangup(leg_id), "hangup", call_id=leg_id)
            raise AgentError(
                f"agent {agent_id}: phone {row.endpoint} not connected: {exc!r}"
            ) from exc
        finally:
            self._answers.pop(leg_id, None)
            self._in_bridge.pop(leg_id, None)
        if session.leg_id is None:  # the phone hung up right after answering
            raise AgentError(f"agent {agent_id}: phone {row.endpoint} hung up")
        assert session.node is not None
        await agent_store.set_node(self._pool, agent_id, session.node)
        if paused_reason is None:
            await self._transition(session, AgentEvent.LOGIN)
        else:
            await self._transition(session, AgentEvent.LOGIN_PAUSED, reason=paused_reason)
        return session

    async def logout(self, agent_id: int, reason: str = "logout", *, force: bool = False) -> None:
        """Log out; refused during a call unless forced (shutdown), which hangs the call up."""
        session = self._require(agent_id)
        if session.state in (AgentState.RESERVED, AgentState.TALKING) and not force:
            raise AgentError(f"agent {agent_id} is on a call; log out after it")
        call_id = session.attempt_id if session.state is AgentState.TALKING else None
        leg_id = session.leg_id
        session.leg_id = None
        await self._transition(session, AgentEvent.LOGOUT, reason=reason)
        for cid in (call_id, leg_id):
            if cid is not None:
                await quietly(self._pbx.hangup(cid), "hangup", call_id=cid)
        await quietly(self._pbx.destroy_bridge(session.bridge_id), "destroy_bridge")

    async def retire(self, agent_id: int, reason: str) -> bool:
        """Take a disabled agent off the phones: logged out now when not on a call; on one,
        the call goes on and the agent is PAUSED after it (no new call). True once out."""
        session = self._sessions.get(agent_id)
        if session is None or session.state is AgentState.LOGGED_OUT:
            return True
        if session.state in (AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP):
            session.pause_after = reason
            return False
        await self.logout(agent_id, reason)
        return True

    async def ready(self, agent_id: int) -> None:
        session = self._require(agent_id)
        if session.state in (AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP):
            session.pause_after = None  # "ready" cancels a pause asked for during the call
            return
        await self._transition(session, AgentEvent.READY)

    async def pause(self, agent_id: int, reason: str) -> None:
        session = self._require(agent_id)
        if session.state in (AgentState.RESERVED, AgentState.TALKING, AgentState.WRAP_UP):
            session.pause_after = reason
            return
        await self._transition(session, AgentEvent.PAUSE, reason=reason)

    async def reserve_longest_idle(
        self,
        campaign_id: int | None,
        attempt_id: str,
        *,
        wait_s: float = 0.0,
        node: str | None = None,
    ) -> AgentSession | None:
        candidates = [
            s for s in self._sessions.values()
            if s.state is AgentState.READY and s.serves(campaign_id) and s.on(node)
        ]  # fmt: skip
        if candidates:
            chosen = min(candidates, key=lambda s: s.idle_since)
            await self._transition(chosen, AgentEvent.RESERVE, attempt_id=attempt_id, wait=False)
            return chosen
        if wait_s <= 0:
            return None
        waiter = _Waiter(
            campaign_id, node, attempt_id, asyncio.get_running_loop().create_future()
        )
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.future), wait_s)
        except TimeoutError:
            if waiter.future.done():  # reserved at the last moment: keep it
                return waiter.future.result()
            return None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def cancel_wait(self, attempt_id: str) -> None:
        """The call waiting for an agent is gone: its reserve_longest_idle returns None now."""
        for waiter in self._waiters:
            if waiter.attempt_id == attempt_id and not waiter.future.done():
                self._waiters.remove(waiter)
                waiter.future.set_result(None)
                return

    async def reserve(
        self, agent_id: int, attempt_id: str, *, manual: bool = False
    ) -> AgentSession:
        session = self._require(agent_id)
        event = AgentEvent.RESERVE_MANUAL if manual else AgentEvent.RESERVE
        await self._transition(session, event, attempt_id=attempt_id)
        return session

    async def release(self, agent_id: int, attempt_id: str) -> None:
        session = self._sessions.get(agent_id)
        if session is None or session.attempt_id != attempt_id:
            return
        if session.state is AgentState.RESERVED:
            await self._after_call(session, AgentEvent.RELEASE)

    async def connect(self, agent_id: int, call_id: str) -> None:
        session = self._require(agent_id)
        if session.state is not AgentState.RESERVED or session.attempt_id != call_id:
            raise AgentError(f"agent {agent_id} is not reserved for call {call_id}")
        await self._pbx.add_to_bridge(session.bridge_id, [call_id])

    async def bridged(self, agent_id: int, call_id: str, *, channel_id: str | None = None) -> None:
        """Asterisk confirmed the call entered the agent's bridge. channel_id is the customer's
        channel when call_id is not (an inbound call's reservation id)."""
        session = self._sessions.get(agent_id)
        if session is not None and session.state is AgentState.RESERVED:
            session.customer_channel = channel_id or call_id
            await self._transition(session, AgentEvent.CONNECT, attempt_id=call_id, wait=False)

    async def hang_up_customer(self, agent_id: int) -> str:
        session = self._require(agent_id)
        channel = session.customer_channel
        if session.state is not AgentState.TALKING or channel is None:
            raise AgentError(f"agent {agent_id} is not talking to anyone")
        log.info("agent.hangup_customer", agent_id=agent_id, call_id=channel)
        try:
            await self._pbx.hangup(channel)
        except PbxError as exc:
            raise AgentError(f"agent {agent_id}: could not hang up {channel}: {exc}") from exc
        return channel

    async def call_ended(self, agent_id: int, attempt_id: str) -> bool:
        """The call of this agent ended; True when the agent now owes a disposition."""
        session = self._sessions.get(agent_id)
        if session is None or session.attempt_id != attempt_id:
            return False
        if session.state is AgentState.TALKING:
            await self._transition(session, AgentEvent.HANGUP, attempt_id=attempt_id)
            return True
        if session.state is AgentState.RESERVED:
            await self._after_call(session, AgentEvent.RELEASE)
        return False

    async def dispose(self, agent_id: int, attempt_id: str) -> None:
        session = self._sessions.get(agent_id)
        if session is None or session.state is not AgentState.WRAP_UP:
            return
        if session.attempt_id != attempt_id:
            raise AgentError(f"agent {agent_id} is not wrapping up call {attempt_id}")
        await self._after_call(session, AgentEvent.DISPOSE)

    async def logout_all(self, reason: str) -> None:
        for task in list(self._relogins.values()):
            task.cancel()
        for session in list(self._sessions.values()):
            if session.state is not AgentState.LOGGED_OUT:
                await self.logout(session.agent_id, reason, force=True)

    async def log_out_stale(self, agent_id: int, reason: str) -> None:
        """An agent the database shows logged in whose session died with an earlier process."""
        if agent_id in self._sessions:
            return
        row = await agent_store.get_agent(self._pool, agent_id)
        if row is None or row.state is AgentState.LOGGED_OUT:
            return
        stale = AgentSession(row.id, row.login, row.name, row.endpoint, row.campaign_ids,
                             state=row.state)  # fmt: skip
        await self._transition(stale, AgentEvent.LOGOUT, reason=reason)
        await quietly(self._pbx.destroy_bridge(stale.bridge_id), "destroy_bridge")

    # --- Pbx events of agent legs ---

    async def on_event(self, event: PbxEvent) -> None:
        agent_id = agent_of_leg(event.call_id)
        if isinstance(event, CallAnswered):
            fut = self._answers.get(event.call_id)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif isinstance(event, CallBridged) and agent_id is not None:
            fut = self._in_bridge.get(event.call_id)
            if fut is not None and not fut.done() and event.bridge_id == bridge_id_for(agent_id):
                fut.set_result(None)
        elif isinstance(event, CallEnded) and agent_id is not None:
            await self._leg_ended(agent_id, event)

    async def on_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        """Legs that vanished while the link was down: their agents are logged out. Agents
        whose phone was lost with the PBX (not hung up by them) are called again."""
        for session in list(self._sessions.values()):
            if session.node == node and session.leg_id and session.leg_id not in live_call_ids:
                await self._leg_ended(session.agent_id, None)
        for session in list(self._sessions.values()):
            if (
                session.node == node
                and session.state is AgentState.LOGGED_OUT
                and session.reason == LINK_LOST
                and session.agent_id not in self._relogins
            ):
                self._relogins[session.agent_id] = asyncio.create_task(
                    self._relogin(session.agent_id)
                )

    async def _relogin(self, agent_id: int) -> None:
        try:
            await self.login(agent_id)
        except AgentError as exc:
            log.warning("agent.relogin_failed", agent_id=agent_id, error=str(exc))
        finally:
            self._relogins.pop(agent_id, None)

    async def _leg_ended(self, agent_id: int, event: CallEnded | None) -> None:
        session = self._sessions.get(agent_id)
        if session is None or event is not None and session.leg_id != event.call_id:
            return  # an old leg of an earlier login
        fut = self._answers.get(session.leg_id or "")
        session.leg_id = None
        if fut is not None and not fut.done():
            fut.set_exception(AgentError("the phone hung up before answering"))
            return
        if session.state is AgentState.LOGGED_OUT:
            return
        # Lost with the link, or cut by an Asterisk shutdown (20c: cause 16 once bridged).
        lost = event is None or event.lost or event.shutdown
        on_call = session.attempt_id if session.state is AgentState.TALKING else None
        # Registered before the agent is LOGGED_OUT: a re-login waits for it (see login).
        teardown = asyncio.ensure_future(self._teardown(session.bridge_id, on_call))
        self._teardowns[agent_id] = teardown
        try:
            await self._transition(
                session, AgentEvent.PHONE_LOST, reason=LINK_LOST if lost else PHONE_HUNG_UP
            )
            await asyncio.shield(teardown)
        finally:
            if self._teardowns.get(agent_id) is teardown:
                del self._teardowns[agent_id]

    async def _teardown(self, bridge_id: str, on_call: str | None) -> None:
        if on_call is not None:
            # The customer is alone in the bridge; the call's own handling ends the attempt.
            await quietly(self._pbx.hangup(on_call), "hangup", call_id=on_call)
        await quietly(self._pbx.destroy_bridge(bridge_id), "destroy_bridge")

    # --- the one transition function ---

    def _require(self, agent_id: int) -> AgentSession:
        session = self._sessions.get(agent_id)
        if session is None or session.state is AgentState.LOGGED_OUT:
            raise AgentError(f"agent {agent_id} is not logged in")
        return session

    async def _after_call(self, session: AgentSession, event: AgentEvent) -> None:
        """Leave RESERVED/WRAP_UP: to READY, or PAUSED when a pause was asked for meanwhile."""
        reason = session.pause_after
        session.pause_after = None
        if reason is not None and event is AgentEvent.DISPOSE:
            await self._transition(session, AgentEvent.DISPOSE_PAUSED, reason=reason)
            return
        await self._transition(session, event)
        if reason is not None:
            await self._transition(session, AgentEvent.PAUSE, reason=reason)

    async def _transition(
        self,
        session: AgentSession,
        event: AgentEvent,
        *,
        reason: str | None = None,
        attempt_id: str | None = None,
        wait: bool = True,
    ) -> None:
        """Apply, log and persist one change; hand a newly READY agent to a waiting call.

        Memory changes at once; the database write joins the writer's queue (agent_log.py).
        wait=False (routing a call to the agent) does not wait for the write, keeping the
        database off the answer -> bridge path.
        """
        first = self._apply(session, event, reason, attempt_id)
        then: Transition | None = None
        waiter = self._waiter_for(session) if first.to_state is AgentState.READY else None
        if waiter is not None:
            # Synchronously, so nothing else can take the agent between READY and RESERVED.
            then = self._apply(session, AgentEvent.RESERVE, None, waiter.attempt_id)
            waiter.future.set_result(session)
        at = datetime.now(UTC)
        saved = self._log.add(first, at)
        if then is not None:
            saved = self._log.add(then, at)
        self.notifier.agent_changed(session, at)
        if first.to_state is AgentState.READY and then is None:
            for callback in list(self._subscribers):
                callback(session)
        if wait:
            await asyncio.shield(saved)

    def _apply(
        self, session: AgentSession, event: AgentEvent, reason: str | None, attempt_id: str | None
    ) -> Transition:
        before = session.state
        try:
            after = next_state(before, event)
        except InvalidTransition as exc:
            raise AgentError(str(exc)) from None
        session.state = after
        session.reason = reason if after in (AgentState.PAUSED, AgentState.LOGGED_OUT) else None
        if after is not AgentState.TALKING:
            session.customer_channel = None
        if after is AgentState.RESERVED:
            session.attempt_id = attempt_id
        elif after in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            attempt_id = attempt_id or session.attempt_id
            session.attempt_id = None
        if after is AgentState.READY and before is not AgentState.READY:
            session.idle_since = time.monotonic()
        log.info(
            "agent.state", agent_id=session.agent_id, transition=f"{before} -> {event} -> {after}",
            reason=reason, attempt_id=attempt_id,
        )  # fmt: skip
        return Transition(session.agent_id, before, event, after, reason, attempt_id)

    def _waiter_for(self, session: AgentSession) -> _Waiter | None:
        for waiter in self._waiters:
            if (
                not waiter.future.done()
                and session.serves(waiter.campaign_id)
                and session.on(waiter.node)
            ):
                self._waiters.remove(waiter)
                return waiter
        return None
