"""The engine's one PbxHandler: routes each call's events to whoever owns the call.

Agent phone legs (`agent-{id}-{n}`) go to the AgentService, attempts to the CallManager,
anything else (inbound callers, snoops) to the handlers added with `add_handler`, in order.
After a reconnect every part hears of it, then the Reconciler runs.
"""

from __future__ import annotations

from collections.abc import Callable

from ccd.dialer.agents import AgentService
from ccd.dialer.calls import CallManager
from ccd.dialer.reconcile import Reconciler
from ccd.log import get_logger
from ccd.telephony.pbx import PbxEvent, PbxHandler

log = get_logger(__name__)


class EngineRouter:
    def __init__(self, agents: AgentService, calls: CallManager) -> None:
        self._agents = agents
        self._calls = calls
        self._others: list[tuple[Callable[[str], bool], PbxHandler]] = []
        self.reconciler: Reconciler | None = None

    def add_handler(self, owns: Callable[[str], bool], handler: PbxHandler) -> None:
        """Another part (e.g. inbound) takes the calls for which owns(call_id) is True."""
        self._others.append((owns, handler))

    async def on_pbx_event(self, event: PbxEvent) -> None:
        call_id = event.call_id
        if self._agents.owns(call_id):
            await self._agents.on_event(event)
            return
        if self._calls.owns(call_id):
            await self._calls.on_event(event)
            return
        for owns, handler in self._others:
            if owns(call_id):
                await handler.on_pbx_event(event)
                return

    async def on_pbx_reconnected(self, node: str, live_call_ids: frozenset[str]) -> None:
        log.info("engine.pbx_reconnected", node=node, live=len(live_call_ids))
        await self._calls.on_reconnected(node, live_call_ids)
        await self._agents.on_reconnected(node, live_call_ids)
        for _, handler in self._others:
            await handler.on_pbx_reconnected(node, live_call_ids)
        if self.reconciler is not None:
            await self.reconciler.run_once()
