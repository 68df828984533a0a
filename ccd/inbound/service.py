"""InboundService: starts a CallRunner for every inbound call and routes its events to it.

It implements the inbound part of PbxHandler. The daemon's one Pbx handler dispatches to it
every event whose call_id `owns()` reports True: the calls it runs, and any channel id that
Asterisk assigned (`1795333756.44`), since a dialplan call's first event, CallEntered, comes
before anyone owns it. Of those it starts a flow only for args[0] == "inbound" (dialplan
`Stasis(ccd,inbound,${EXTEN})`) and ignores the rest. With the outbound engine:
`engine_router.add_handler(inbound.owns, inbound)`. The DID is args[1] (else the channel's
extension); the flow comes from inbound_routes, flows from the flows directory loaded at
start. Handlers never block: events are put into the call's queue and the runner's own
task consumes them. A caller whose StasisStart was lost (half-open link) arrives as a
CallEntered marked `recovered` at the resync and gets its flow then, unless an earlier process
had started it (it has a row): such calls are settled by `on_pbx_reconnected`.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

import asyncpg

from ccd.dialer.clock import Clock, SystemClock
from ccd.inbound.acd import Acd
from ccd.inbound.agent_calls import AgentCalls
from ccd.inbound.agents_port import AgentsPort
from ccd.inbound.flow import Flow
from ccd.inbound.runner import CallRunner, Deps, RunnerConfig
from ccd.log import get_logger
from ccd.store import inbound as store
from ccd.telephony.pbx import CallEntered, Pbx, PbxEvent

if TYPE_CHECKING:  # the daemon may import this module to wire inbound in
    from ccd.dialer.daemon import Engine
    from ccd.dialer.recording import Recorder

log = get_logger(__name__)

ARG_INBOUND = "inbound"
_FINISHED_KEPT = 10_000
# Channels that entered from the dialplan carry Asterisk's uniqueid; ours never look like it.
_ASTERISK_ID = re.compile(r"^\d+\.\d+$")


class InboundService:
    def __init__(
        self,
        pbx: Pbx,
        pool: asyncpg.Pool,
        agents: AgentsPort,
        flows: Mapping[str, Flow],
        *,
        acd: Acd | None = None,
        clock: Clock | None = None,
        config: RunnerConfig | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self._flows = dict(flows)
        config = config or RunnerConfig()
        clock = clock or SystemClock()
        calls = AgentCalls(pool, agents, clock, wrapup_timeout_s=config.wrapup_timeout_s,
                           region=config.region)  # fmt: skip
        self._deps = Deps(
            pbx=pbx,
            pool=pool,
            acd=acd or Acd(agents),
            agents=agents,
            calls=calls,
            clock=clock,
            config=config,
            recorder=recorder,
        )
        self._calls: dict[str, CallRunner] = {}
        self._starting: set[str] = set()  # entered, runner not registered yet
        self._tasks: set[asyncio.Task[str]] = set()
        self._watchers: dict[str, asyncio.Future[str]] = {}
        self._finished: OrderedDict[str, str] = OrderedDict()  # recent outcomes, for outcome_of
        self.outcomes: dict[str, int] = {}

    @property
    def acd(self) -> Acd:
        return self._deps.acd

    @property
    def calls(self) -> AgentCalls:
        """Calls agents answered: their view, dispositions and wrap-up."""
        return self._deps.calls

    def replace_flows(self, flows: Mapping[str, Flow]) -> None:
        """New flows for calls that start from now on (SIGHUP); calls in a flow keep theirs."""
        self._flows = dict(flows)
        log.info("inbound.flows_loaded", flows=sorted(self._flows))

    def owns(self, call_id: str) -> bool:
        return call_id in self._calls or _ASTERISK_ID.match(call_id) is not None

    def live_calls(self) -> list[str]:
        return list(self._calls)

    # --- PbxHandler (inbound part) ---

    async def on_pbx_event(self, event: PbxEvent) -> None:
        if isinstance(event, CallEntered):
            if event.args and event.args[0] == ARG_INBOUND and event.call_id not in self._calls:
                await self._enter(event)
            return
        runner = self._calls.get(event.call_id)
        if runner is not None:
            runner.inbox.put_nowait(event)

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        """Settle calls no runner of this process holds (ccd restarted under them).

        Calls lost while the link was down need nothing here: the Pbx ends them with
        CallEnded(lost=True), which reaches their runners like any hangup. But a call the
        database shows open with no runner here was left by an earlier process: if Asterisk
        still has it, its caller is in a flow nobody runs and is hung up; either way it is
        recorded as failed.
        """
        pool, pbx, clock = self._deps.pool, self._deps.pbx, self._deps.clock
        for call_id in await store.open_calls(pool, node):
            if call_id in self._calls or call_id in self._starting:
                continue
            if call_id in live_call_ids:
                await pbx.hangup(call_id)
            await store.call_ended(pool, call_id, outcome="failed", at=clock.now(), variables={})
            log.warning("inbound.orphan_settled", call_id=call_id, node=node,
                        live=call_id in live_call_ids)  # fmt: skip

    async def outcome_of(self, call_id: str) -> str:
        """Wait until the call (known yet or not) has ended and been recorded; its outcome."""
        if call_id in self._finished:
            return self._finished[call_id]
        fut = self._watchers.get(call_id)
        if fut is None:
            fut = self._watchers[call_id] = asyncio.get_running_loop().create_future()
        return await asyncio.shield(fut)

    # --- life cycle ---

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._deps.calls.close()
        await self._deps.acd.close()

    async def _enter(self, ev: CallEntered) -> None:
        if ev.recovered:
            if await store.call_known(self._deps.pool, ev.call_id):
                return  # an earlier process ran it: on_pbx_reconnected settles it
            # Its StasisStart was lost: the caller has been in silence since it entered.
            log.warning("inbound.recovered", call_id=ev.call_id, node=ev.node)
        # Its row may be written before the runner is registered: the orphan check after a
        # reconnect must not take it for a call an earlier process left.
        self._starting.add(ev.call_id)
        try:
            await self._start(ev)
        finally:
            self._starting.discard(ev.call_id)

    async def _start(self, ev: CallEntered) -> None:
        did = ev.args[1] if len(ev.args) > 1 and ev.args[1] else ev.did
        route = await store.route_for(self._deps.pool, did)
        flow = self._flows.get(route.flow) if route is not None else None
        await store.call_started(
            self._deps.pool, ev.call_id, node=ev.node, did=did, caller=ev.caller_number,
            flow=route.flow if route else None, campaign_id=route.campaign_id if route else None,
            at=ev.at,
        )  # fmt: skip
        runner = CallRunner(
            self._deps, call_id=ev.call_id, node=ev.node, did=did, caller=ev.caller_number,
            flow=flow, campaign_id=route.campaign_id if route else None,
        )  # fmt: skip
        self._calls[ev.call_id] = runner
        if flow is None:
            log.warning("inbound.no_flow", call_id=ev.call_id, did=did,
                        flow=route.flow if route else None)  # fmt: skip
        log.info("inbound.entered", call_id=ev.call_id, did=did, caller=ev.caller_number,
                 flow=flow.name if flow else None)  # fmt: skip
        self._spawn(self._run(runner, known=flow is not None), ev.call_id)

    async def _run(self, runner: CallRunner, *, known: bool) -> str:
        try:
            outcome = await runner.run() if known else await runner.reject()
        finally:
            self._calls.pop(runner.call_id, None)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self._finished[runner.call_id] = outcome
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        fut = self._watchers.pop(runner.call_id, None)
        if fut is not None and not fut.done():
            fut.set_result(outcome)
        return outcome

    def _spawn(self, coro: Coroutine[Any, Any, str], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def attach_to_engine(
    engine: Engine,
    flows: Mapping[str, Flow],
    *,
    config: RunnerConfig | None = None,
) -> InboundService:
    """Inbound beside the outbound engine: the same Pbx, pool, agents, clock and wrap-up
    time, and the engine's router hands it the calls it owns. Call before `engine.start()` so
    the first connect's reconciliation reaches it too; `await inbound.close()` before
    `engine.stop()`.
    """
    if config is None:
        config = RunnerConfig(wrapup_timeout_s=engine.config.wrapup_timeout_s)
    inbound = InboundService(
        engine.pbx, engine.pool, engine.agents, flows, clock=engine.clock, config=config,
        recorder=engine.recorder,
    )  # fmt: skip
    engine.router.add_handler(inbound.owns, inbound)
    return inbound
