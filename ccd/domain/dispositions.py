"""Dispositions and the data-driven retry rules that follow from them.

Every attempt ends with exactly one disposition. What happens to the lead next is a rule:
retry after a delay, blacklist the number for good, schedule the agent's callback, or finish.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Disposition(StrEnum):
    END = "END"
    CALLBACK = "CALLBACK"
    NO_ANSWER = "NO_ANSWER"
    BUSY = "BUSY"
    VOICEMAIL = "VOICEMAIL"
    BAD_NUMBER = "BAD_NUMBER"
    FAX = "FAX"
    REJECTED = "REJECTED"
    CONGESTION = "CONGESTION"
    FAILED = "FAILED"
    DROPPED = "DROPPED"  # answered, no agent within 2 s: abandoned by us


class DispositionSource(StrEnum):
    AUTO = "auto"
    AGENT = "agent"


class BlacklistReason(StrEnum):
    BAD_NUMBER = "bad_number"
    FAX = "fax"
    DNC = "dnc"
    MANUAL = "manual"


class LeadStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"  # claimed by a runner, an attempt is live
    RETRY = "retry"  # due again at next_attempt_at
    CALLBACK = "callback"  # the agent's appointment at next_attempt_at
    DONE = "done"
    BLACKLISTED = "blacklisted"
    EXHAUSTED = "exhausted"  # max attempts reached


DIALABLE_STATUSES: tuple[LeadStatus, ...] = (LeadStatus.NEW, LeadStatus.RETRY, LeadStatus.CALLBACK)

ActionKind = Literal["retry", "blacklist", "callback", "done"]


MAX_RETRY_DELAY_S = 365 * 86400  # a year: further than any campaign runs, and datetime-safe


class RetryRule(BaseModel):
    action: ActionKind
    delay_s: int = Field(default=0, ge=0, le=MAX_RETRY_DELAY_S)


class RetryRules(BaseModel):
    """Per-campaign rules, stored as JSON in campaigns.retry_rules."""

    rules: dict[Disposition, RetryRule] = Field(default_factory=dict)

    def rule_for(self, disposition: Disposition) -> RetryRule:
        return self.rules.get(disposition) or DEFAULT_RULES[disposition]


TWO_HOURS = 2 * 3600
DEFAULT_RULES: dict[Disposition, RetryRule] = {
    Disposition.END: RetryRule(action="done"),
    Disposition.CALLBACK: RetryRule(action="callback"),
    Disposition.NO_ANSWER: RetryRule(action="retry", delay_s=TWO_HOURS),
    Disposition.BUSY: RetryRule(action="retry", delay_s=TWO_HOURS),
    Disposition.VOICEMAIL: RetryRule(action="retry", delay_s=TWO_HOURS),
    Disposition.REJECTED: RetryRule(action="retry", delay_s=TWO_HOURS),
    Disposition.BAD_NUMBER: RetryRule(action="blacklist"),
    Disposition.FAX: RetryRule(action="blacklist"),
    Disposition.CONGESTION: RetryRule(action="retry", delay_s=300),
    Disposition.FAILED: RetryRule(action="retry", delay_s=300),
    Disposition.DROPPED: RetryRule(action="retry", delay_s=0),
}

BLACKLIST_REASON: dict[Disposition, BlacklistReason] = {
    Disposition.BAD_NUMBER: BlacklistReason.BAD_NUMBER,
    Disposition.FAX: BlacklistReason.FAX,
}


class LeadUpdate(BaseModel):
    """What a disposition does to its lead."""

    status: LeadStatus
    next_attempt_at: datetime | None
    blacklist: BlacklistReason | None = None


def apply_disposition(
    disposition: Disposition,
    *,
    now: datetime,
    attempts_made: int,
    max_attempts: int,
    rules: RetryRules | None = None,
    callback_at: datetime | None = None,
) -> LeadUpdate:
    rule = (rules or RetryRules()).rule_for(disposition)
    if rule.action == "blacklist":
        return LeadUpdate(
            status=LeadStatus.BLACKLISTED,
            next_attempt_at=None,
            blacklist=BLACKLIST_REASON.get(disposition, BlacklistReason.MANUAL),
        )
    if rule.action == "done":
        return LeadUpdate(status=LeadStatus.DONE, next_attempt_at=None)
    if rule.action == "callback":
        if callback_at is None:
            raise ValueError("a CALLBACK disposition needs the callback date-time")
        # An appointment is kept even when the retry budget is spent: the agent asked for it.
        return LeadUpdate(status=LeadStatus.CALLBACK, next_attempt_at=callback_at)
    if attempts_made >= max_attempts:
        return LeadUpdate(status=LeadStatus.EXHAUSTED, next_attempt_at=None)
    return LeadUpdate(
        status=LeadStatus.RETRY, next_attempt_at=now + timedelta(seconds=rule.delay_s)
    )
