"""The pure agent state machine and the automatic dispositions."""

from __future__ import annotations

import pytest

from ccd.domain.agents import AgentEvent as E
from ccd.domain.agents import AgentState as S
from ccd.domain.agents import InvalidTransition, next_state
from ccd.domain.dispositions import Disposition
from ccd.domain.outcomes import AGENT_DISPOSITIONS, auto_disposition


def test_a_shift() -> None:
    state = S.LOGGED_OUT
    path = [E.LOGIN, E.RESERVE, E.CONNECT, E.HANGUP, E.DISPOSE, E.PAUSE, E.READY, E.LOGOUT]
    seen = []
    for event in path:
        state = next_state(state, event)
        seen.append(state)
    assert seen == [S.READY, S.RESERVED, S.TALKING, S.WRAP_UP, S.READY, S.PAUSED, S.READY,
                    S.LOGGED_OUT]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (S.PAUSED, E.RESERVE),  # predictive/power calls never go to a paused agent
        (S.WRAP_UP, E.RESERVE),
        (S.TALKING, E.PAUSE),
        (S.LOGGED_OUT, E.READY),
        (S.LOGGED_OUT, E.LOGOUT),
        (S.READY, E.CONNECT),
        (S.RESERVED, E.DISPOSE),
        (S.READY, E.LOGIN),
    ],
)
def test_refused(state: S, event: E) -> None:
    with pytest.raises(InvalidTransition, match=state.value):
        next_state(state, event)


def test_manual_dial_from_pause_and_phone_loss_from_anywhere() -> None:
    assert next_state(S.PAUSED, E.RESERVE_MANUAL) is S.RESERVED
    for state in (S.READY, S.RESERVED, S.TALKING, S.WRAP_UP, S.PAUSED):
        assert next_state(state, E.PHONE_LOST) is S.LOGGED_OUT
    assert next_state(S.WRAP_UP, E.DISPOSE_PAUSED) is S.PAUSED


@pytest.mark.parametrize(
    ("outcome", "bridged", "expected"),
    [
        ("ANSWERED", True, None),
        ("ANSWERED", False, Disposition.NO_ANSWER),
        ("BUSY", False, Disposition.BUSY),
        ("NO_ANSWER", False, Disposition.NO_ANSWER),
        ("MACHINE", False, Disposition.VOICEMAIL),
        ("FAX", False, Disposition.FAX),
        ("BAD_NUMBER", False, Disposition.BAD_NUMBER),
        ("CONGESTION", False, Disposition.CONGESTION),
        ("REJECTED", False, Disposition.REJECTED),
        ("DROPPED", False, Disposition.DROPPED),
        ("LOST", False, Disposition.FAILED),
        ("LOST", True, None),
        ("FAILED", False, Disposition.FAILED),
    ],
)
def test_auto_disposition(outcome: str, bridged: bool, expected: Disposition | None) -> None:
    assert auto_disposition(outcome, bridged=bridged) is expected


def test_unknown_outcome_is_an_error() -> None:
    with pytest.raises(ValueError, match="SOMETHING"):
        auto_disposition("SOMETHING", bridged=False)


def test_agent_dispositions_are_the_ones_agents_may_set() -> None:
    assert Disposition.DROPPED not in AGENT_DISPOSITIONS
    assert {Disposition.END, Disposition.CALLBACK, Disposition.FAX} <= AGENT_DISPOSITIONS
