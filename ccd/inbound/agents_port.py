"""What the inbound queue needs from the agent service (ccd.dialer.agents.AgentService fits it).

Reservations are made under a *reservation id* derived from the inbound channel id, because
the agent service logs reservations in agent_state_log.attempt_id, a UUID column, while an
inbound call's id is Asterisk's uniqueid ("1795333756.44"). `reservation_id()` is the one
mapping; it is deterministic, so a log row leads back to its inbound call.

Precedence over outbound: a queued caller waits inside `reserve_longest_idle(wait_s=...)`;
the agent service hands an agent who turns READY to such waiters (first come, first served)
before it tells its ready-subscribers (the outbound runner), so the pacer never sees that
agent as free.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from ccd.domain.agents import AgentState

_NAMESPACE = uuid.UUID("6f1c2b1e-2d55-4d7e-9a53-6e9c0c1f0b7a")


def reservation_id(call_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"inbound:{call_id}"))


class AgentLike(Protocol):
    @property
    def agent_id(self) -> int: ...

    @property
    def state(self) -> AgentState: ...

    @property
    def attempt_id(self) -> str | None: ...

    @property
    def bridge_id(self) -> str: ...

    def serves(self, campaign_id: int | None) -> bool: ...


class AgentsPort(Protocol):
    async def reserve_longest_idle(
        self,
        campaign_id: int | None,
        attempt_id: str,
        *,
        wait_s: float = 0.0,
        node: str | None = None,
    ) -> AgentLike | None:
        """Reserve the longest-idle READY agent (on `node` when given), waiting up to wait_s
        (FCFS among waiters)."""

    async def release(self, agent_id: int, attempt_id: str) -> None:
        """RESERVED -> READY: the reserved call never reached the agent."""

    async def bridged(self, agent_id: int, call_id: str, *, channel_id: str | None = None) -> None:
        """The call (channel channel_id) entered the agent's bridge: RESERVED -> TALKING."""

    async def call_ended(self, agent_id: int, attempt_id: str) -> bool:
        """The call ended: TALKING -> WRAP_UP (or RESERVED -> READY)."""

    async def dispose(self, agent_id: int, attempt_id: str) -> None:
        """WRAP_UP -> READY (here: the wrap-up time ran out without the agent's disposition)."""

    def sessions(self) -> Sequence[AgentLike]: ...
