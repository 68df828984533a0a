"""Campaign modes, statuses and the transitions an operator may ask for."""

from __future__ import annotations

from enum import StrEnum


class CampaignMode(StrEnum):
    MANUAL = "MANUAL"
    POWER = "POWER"
    PREDICTIVE = "PREDICTIVE"
    INBOUND = "INBOUND"


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


# The message a dropped (answered, no agent free) contact hears. The defaults are Asterisk core
# sounds, present on a stock install; a campaign should record its own naming the company and
# a call-back number (docs/asterisk.md). The fallback plays when the campaign's media fails
# (a file missing on the node), so the contact never hears only silence.
DEFAULT_SAFE_HARBOR_MEDIA = "sound:all-reps-busy"
SAFE_HARBOR_FALLBACK_MEDIA = "sound:vm-goodbye"


class AbandonWindow(StrEnum):
    """The span over which a campaign's abandon rate is counted, as regulators count it:
    30 days per campaign (the US rule, 47 CFR 64.1200) or each 24 h (the UK Ofcom rule)."""

    DAYS_30 = "30d"
    HOURS_24 = "24h"

    @property
    def seconds(self) -> float:
        return 30 * 86400.0 if self is AbandonWindow.DAYS_30 else 86400.0


class TransitionError(ValueError):
    pass


# What an operator command may move a campaign to, from each status.
_ALLOWED: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.RUNNING, CampaignStatus.STOPPED}),
    CampaignStatus.RUNNING: frozenset(
        {CampaignStatus.PAUSED, CampaignStatus.STOPPED, CampaignStatus.COMPLETED}
    ),
    CampaignStatus.PAUSED: frozenset({CampaignStatus.RUNNING, CampaignStatus.STOPPED}),
    CampaignStatus.STOPPED: frozenset({CampaignStatus.RUNNING}),
    CampaignStatus.COMPLETED: frozenset({CampaignStatus.RUNNING}),
}


def check_transition(current: CampaignStatus, target: CampaignStatus) -> None:
    if target == current:
        return
    if target not in _ALLOWED[current]:
        raise TransitionError(f"cannot move a {current.value} campaign to {target.value}")


class TrunkKind(StrEnum):
    SIP = "sip"
    CITY = "city"
    TOLLFREE_8800 = "tollfree_8800"
    MOBILE = "mobile"
