"""How a call ended, from what Asterisk reports: one table, first matching row wins.

Inputs come from the ARI events of one call: the Q.850 cause of ChannelDestroyed (or of a
non-soft ChannelHangupRequest), the SIP status in `tech_cause`, the last Dial `dialstatus`,
whether the far end answered, the AMD result and a detected fax tone.

Every row names the transcript (recorded from a real Asterisk 22) or standard that grounds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    ANSWERED = "ANSWERED"
    BUSY = "BUSY"
    NO_ANSWER = "NO_ANSWER"
    CONGESTION = "CONGESTION"
    BAD_NUMBER = "BAD_NUMBER"
    REJECTED = "REJECTED"
    MACHINE = "MACHINE"
    FAX = "FAX"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the adapter saw of one call; every field may be missing."""

    cause: int | None = None  # Q.850; 0 = Unknown (Busy()/Congestion() on Local, shutdown)
    sip_code: int | None = None  # tech_cause of a PJSIP channel
    dial_status: str | None = None  # last non-empty Dial dialstatus
    answered: bool = False
    amd_status: str | None = None  # AMDSTATUS: HUMAN, MACHINE, NOTSURE, HANGUP
    tone: str | None = None  # "fax" once TONE_DETECT fired


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    match: Callable[[CallFacts], bool]
    outcome: Outcome
    grounds: str


def _cause_in(*codes: int) -> Callable[[CallFacts], bool]:
    return lambda f: f.cause in codes


def _sip_in(*codes: int) -> Callable[[CallFacts], bool]:
    return lambda f: f.sip_code in codes


def _dial_is(*statuses: str) -> Callable[[CallFacts], bool]:
    return lambda f: f.dial_status in statuses


# Q.850 causes that no transcript shows but that carriers send; grouped by ITU-T Q.850 class.
_BAD_NUMBER_CAUSES = (1, 2, 3, 22, 28)  # unallocated, no route, number changed, invalid format
_CONGESTION_CAUSES = (34, 38, 41, 42, 44, 47)  # no circuit, network out of order, temp failure
_NO_ANSWER_CAUSES = (18, 19, 20)  # no user responding, alerting no answer, subscriber absent

RULES: tuple[Rule, ...] = (
    # Media findings win over signalling: a fax or a machine answers like a person does.
    Rule("fax tone", lambda f: f.tone == "fax", Outcome.FAX, "15-fax-tone-detect"),
    Rule(
        "amd machine",
        lambda f: f.amd_status == "MACHINE",
        Outcome.MACHINE,
        "14-amd-originate-context, 14b-amd-app-continue (MACHINE/MAXWORDS-3-2)",
    ),
    # Any answered call is ANSWERED whatever cause ends it: 16 on a normal hangup (01, 19),
    # 0 on an Asterisk shutdown (20), 16/17 on ARI DELETE with a reason (02).
    Rule(
        "answered",
        lambda f: f.answered or f.dial_status == "ANSWER",
        Outcome.ANSWERED,
        "01-originate-answered-farend-hangup, 02-app-hangup-delete, 20-asterisk-restart",
    ),
    # Local Busy()/Congestion() end with cause 0: the Dial status is then the only truth.
    Rule(
        "dial BUSY, cause 0",
        lambda f: not f.cause and f.dial_status == "BUSY",
        Outcome.BUSY,
        "32-ami-originate-failures (2101 Busy(): Reason 5, Cause 0)",
    ),
    Rule(
        "dial CONGESTION, cause 0",
        lambda f: not f.cause and f.dial_status in ("CONGESTION", "CHANUNAVAIL"),
        Outcome.CONGESTION,
        "Dial() docs: CONGESTION/CHANUNAVAIL without a cause",
    ),
    Rule("cause 17 user busy", _cause_in(17), Outcome.BUSY, "03-busy-local-17, 03b-busy-sip-486"),
    Rule(
        "cause 21 call rejected",
        _cause_in(21),
        Outcome.REJECTED,
        "07-rejected-local-21, 07b-rejected-sip-603 (Dial NOANSWER)",
    ),
    Rule(
        "cause unallocated / invalid number",
        _cause_in(*_BAD_NUMBER_CAUSES),
        Outcome.BAD_NUMBER,
        "06-unallocated-local-1, 06b-unallocated-sip-404 (Dial NOANSWER); Q.850 2,3,22,28",
    ),
    Rule(
        "cause congestion",
        _cause_in(*_CONGESTION_CAUSES),
        Outcome.CONGESTION,
        "04-congestion-local-34, 04b-congestion-sip-503; Q.850 38,41,42,44,47",
    ),
    Rule(
        "cause no answer",
        _cause_in(*_NO_ANSWER_CAUSES),
        Outcome.NO_ANSWER,
        "05-noanswer-local-timeout, 05b-noanswer-sip-180 (19, tech 480); Q.850 18,20",
    ),
    # No usable Q.850 cause: fall back to the SIP status, then to the Dial status.
    Rule("sip busy", _sip_in(486, 600), Outcome.BUSY, "03b-busy-sip-486 (RFC 3261 600)"),
    Rule("sip rejected", _sip_in(603), Outcome.REJECTED, "07b-rejected-sip-603"),
    Rule(
        "sip bad number",
        _sip_in(404, 484, 604),
        Outcome.BAD_NUMBER,
        "06b-unallocated-sip-404 (RFC 3261 484, 604)",
    ),
    Rule("sip no answer", _sip_in(408, 480), Outcome.NO_ANSWER, "05b-noanswer-sip-180 (480)"),
    Rule(
        "sip server failure",
        _sip_in(500, 502, 503, 504),
        Outcome.CONGESTION,
        "04b-congestion-sip-503",
    ),
    Rule("dial BUSY", _dial_is("BUSY"), Outcome.BUSY, "03-busy-local-17"),
    Rule(
        "dial CONGESTION",
        _dial_is("CONGESTION", "CHANUNAVAIL"),
        Outcome.CONGESTION,
        "04-congestion-local-34",
    ),
    # Ringing ended by the originate timeout or by our own hangup before answer.
    Rule(
        "dial RINGING/NOANSWER/CANCEL",
        _dial_is("RINGING", "NOANSWER", "CANCEL"),
        Outcome.NO_ANSWER,
        "05-noanswer-local-timeout (last dialstatus RINGING)",
    ),
    Rule(
        "cause 16 before answer",
        _cause_in(16),
        Outcome.NO_ANSWER,
        "02-app-hangup-delete (DELETE gives 16); an unanswered call we hung up",
    ),
)


def classify(facts: CallFacts) -> tuple[Outcome, str]:
    """The outcome and the name of the rule that decided it (for the log)."""
    for rule in RULES:
        if rule.match(facts):
            return rule.outcome, rule.name
    return Outcome.FAILED, "no rule matched"


def outcome_of(facts: CallFacts) -> Outcome:
    return classify(facts)[0]
