"""What the engine tells the rest of ccd (live console, metrics): one method per event.

Notifications come last in the fixed order of side effects (database row, then Asterisk
command, then notification) and must not block: implementations only update memory or
schedule their own work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ccd.log import get_logger

if TYPE_CHECKING:
    from ccd.dialer.agents import AgentSession
    from ccd.dialer.calls import LiveAttempt

log = get_logger(__name__)


class EngineNotifier(Protocol):
    def agent_changed(self, session: AgentSession, at: datetime) -> None: ...

    def call_originated(self, call: LiveAttempt) -> None: ...

    def call_answered(self, call: LiveAttempt) -> None: ...

    def call_bridged(self, call: LiveAttempt) -> None: ...

    def call_dropped(self, call: LiveAttempt) -> None: ...

    def call_ended(self, call: LiveAttempt, outcome: str) -> None: ...

    def dial_level(self, campaign_id: int, campaign: str, level: float) -> None: ...


class NullNotifier:
    """Tells nobody (tests, the benchmark, the demo)."""

    def agent_changed(self, session: AgentSession, at: datetime) -> None:
        pass

    def call_originated(self, call: LiveAttempt) -> None:
        pass

    def call_answered(self, call: LiveAttempt) -> None:
        pass

    def call_bridged(self, call: LiveAttempt) -> None:
        pass

    def call_dropped(self, call: LiveAttempt) -> None:
        pass

    def call_ended(self, call: LiveAttempt, outcome: str) -> None:
        pass

    def dial_level(self, campaign_id: int, campaign: str, level: float) -> None:
        pass


class IsolatedNotifier:
    """Passes every notification on to `inner`, and keeps its failures away from the call.

    Observers run inside call handling (answer -> bridge); one that raises would otherwise
    stop the call's next step. A failure is logged and counted (`on_failure(event)`), never
    raised: the call goes on without its display.
    """

    def __init__(
        self, inner: EngineNotifier, on_failure: Callable[[str], None] | None = None
    ) -> None:
        self._inner = inner
        self._on_failure = on_failure

    def _guard(self, event: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            log.exception("notify.observer_failed", notification=event)
            if self._on_failure is not None:
                with contextlib.suppress(Exception):
                    self._on_failure(event)

    def agent_changed(self, session: AgentSession, at: datetime) -> None:
        self._guard("agent_changed", lambda: self._inner.agent_changed(session, at))

    def call_originated(self, call: LiveAttempt) -> None:
        self._guard("call_originated", lambda: self._inner.call_originated(call))

    def call_answered(self, call: LiveAttempt) -> None:
        self._guard("call_answered", lambda: self._inner.call_answered(call))

    def call_bridged(self, call: LiveAttempt) -> None:
        self._guard("call_bridged", lambda: self._inner.call_bridged(call))

    def call_dropped(self, call: LiveAttempt) -> None:
        self._guard("call_dropped", lambda: self._inner.call_dropped(call))

    def call_ended(self, call: LiveAttempt, outcome: str) -> None:
        self._guard("call_ended", lambda: self._inner.call_ended(call, outcome))

    def dial_level(self, campaign_id: int, campaign: str, level: float) -> None:
        self._guard("dial_level", lambda: self._inner.dial_level(campaign_id, campaign, level))
