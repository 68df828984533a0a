"""The pacer contract shared by the outbound engine and the call-center simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

# An answered call that no agent takes within this many seconds is dropped (abandoned):
# the safe-harbor message plays and the line hangs up.
DROP_AFTER_S = 2.0
# The highest lines-per-agent ceiling (a campaign's --max-ratio) any pacer accepts.
MAX_RATIO_LIMIT = 20.0


@dataclass(frozen=True, slots=True)
class PacingSnapshot:
    """What a campaign looks like at one instant, as the pacer sees it.

    Agents on a break or logged out appear nowhere; every staffed agent is in exactly one of
    ready / talking / wrapping. A call still in AMD analysis counts as ringing: nobody knows
    yet whether it will need an agent (report it to record_ring when AMD decides, with
    answered=False for a machine).
    """

    now: float  # seconds, any fixed origin
    ready: int  # agents free for a call
    talking: tuple[float, ...]  # elapsed talk seconds, one per agent on a call
    wrapping: tuple[float, ...]  # elapsed wrap-up seconds, one per agent in wrap-up
    ringing: tuple[float, ...]  # elapsed ring seconds, one per unanswered outbound call
    waiting: int  # answered calls not yet given an agent
    lines_free: int  # trunk channels still free

    @property
    def agents(self) -> int:
        return self.ready + len(self.talking) + len(self.wrapping)

    @property
    def lines_used(self) -> int:
        """Channels this campaign holds: ringing, answered-waiting and agent calls."""
        return len(self.ringing) + self.waiting + len(self.talking)


class Pacer(Protocol):
    """Decides how many calls to place; learns from what happened to them."""

    def calls_to_place(self, snap: PacingSnapshot) -> int:
        """New calls to originate now: >= 0 and <= snap.lines_free."""
        ...

    def record_ring(self, ring_s: float, answered: bool, now: float) -> None:
        """A call stopped ringing after ring_s seconds; answered = a person picked up."""
        ...

    def record_answer(self, dropped: bool, now: float) -> None:
        """A person answered; dropped = no agent took the call within DROP_AFTER_S."""
        ...

    def record_call(self, talk_s: float, wrap_s: float, now: float) -> None:
        """An agent finished a call: talk_s on the line, then wrap_s of wrap-up."""
        ...


def clamp_calls(n: float, snap: PacingSnapshot) -> int:
    """A call count made safe for the contract: whole, >= 0, <= lines_free."""
    return max(0, min(int(n), snap.lines_free))


def check_max_ratio(max_ratio: float) -> float:
    if not 1.0 <= max_ratio <= MAX_RATIO_LIMIT:
        raise ValueError(f"max_ratio must be between 1 and {MAX_RATIO_LIMIT:g}, got {max_ratio}")
    return max_ratio


def line_room(snap: PacingSnapshot, max_ratio: float) -> int:
    """New calls allowed under the campaign's ceiling: at most max_ratio lines (ringing,
    answered waiting, on a call) per staffed agent, whatever the pacer wants."""
    return math.floor(max_ratio * snap.agents) - snap.lines_used
