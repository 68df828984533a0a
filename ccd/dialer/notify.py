"""What the engine tells the rest of ccd (live console, metrics): one method per event.

Notifications come last in the fixed order of side effects (database row, then Asterisk
command, then notification) and must not block: implementations only update memory or
schedule their own work.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ccd.dialer.agents import AgentSession
    from ccd.dialer.calls import LiveAttempt


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
