"""The agent state machine: one pure transition function, no I/O.

LOGGED_OUT --login--> READY | PAUSED
READY      --reserve--> RESERVED      (a call is being placed or was answered for them)
PAUSED     --reserve--> RESERVED      (only a MANUAL dial the agent asked for)
RESERVED   --release--> READY         (the reserved call never reached them)
RESERVED   --connect--> TALKING       (the customer entered the agent's bridge)
TALKING    --hangup--> WRAP_UP        (the call ended; a disposition is owed)
WRAP_UP    --dispose--> READY | PAUSED (PAUSED when a pause was asked for during the call)
READY      --pause--> PAUSED, PAUSED --pause--> PAUSED (new reason), PAUSED --ready--> READY
any        --logout / phone_lost--> LOGGED_OUT
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "LOGGED_OUT"
    READY = "READY"
    RESERVED = "RESERVED"
    TALKING = "TALKING"
    WRAP_UP = "WRAP_UP"
    PAUSED = "PAUSED"


class AgentEvent(StrEnum):
    LOGIN = "login"
    LOGIN_PAUSED = "login_paused"
    RESERVE = "reserve"
    RESERVE_MANUAL = "reserve_manual"
    RELEASE = "release"
    CONNECT = "connect"
    HANGUP = "hangup"
    DISPOSE = "dispose"
    DISPOSE_PAUSED = "dispose_paused"
    READY = "ready"
    PAUSE = "pause"
    LOGOUT = "logout"
    PHONE_LOST = "phone_lost"


class InvalidTransition(ValueError):
    def __init__(self, state: AgentState, event: AgentEvent) -> None:
        super().__init__(f"an agent in {state.value} cannot {event.value}")
        self.state = state
        self.event = event


S = AgentState
E = AgentEvent

_TABLE: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (S.LOGGED_OUT, E.LOGIN): S.READY,
    (S.LOGGED_OUT, E.LOGIN_PAUSED): S.PAUSED,
    (S.READY, E.RESERVE): S.RESERVED,
    (S.READY, E.RESERVE_MANUAL): S.RESERVED,
    (S.PAUSED, E.RESERVE_MANUAL): S.RESERVED,
    (S.RESERVED, E.RELEASE): S.READY,
    (S.RESERVED, E.CONNECT): S.TALKING,
    (S.TALKING, E.HANGUP): S.WRAP_UP,
    (S.WRAP_UP, E.DISPOSE): S.READY,
    (S.WRAP_UP, E.DISPOSE_PAUSED): S.PAUSED,
    (S.READY, E.PAUSE): S.PAUSED,
    (S.PAUSED, E.PAUSE): S.PAUSED,
    (S.PAUSED, E.READY): S.READY,
    (S.READY, E.READY): S.READY,
}
_ANY_TO_LOGGED_OUT = (E.LOGOUT, E.PHONE_LOST)


def next_state(state: AgentState, event: AgentEvent) -> AgentState:
    """The state after `event`, or InvalidTransition."""
    if event in _ANY_TO_LOGGED_OUT and state is not S.LOGGED_OUT:
        return S.LOGGED_OUT
    try:
        return _TABLE[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


@dataclass(frozen=True, slots=True)
class Transition:
    """One applied change, as logged and written to agent_state_log."""

    agent_id: int
    from_state: AgentState
    event: AgentEvent
    to_state: AgentState
    reason: str | None = None
    attempt_id: str | None = None


def is_idle(state: AgentState) -> bool:
    """READY agents are the ones a call may be routed to."""
    return state is S.READY
