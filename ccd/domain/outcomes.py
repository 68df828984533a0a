"""Which disposition an attempt gets automatically from how the call ended.

Outcomes are the telephony adapter's names (plus DROPPED and LOST, which the engine decides);
they are taken as plain strings so the domain depends on nothing else in ccd.
"""

from __future__ import annotations

from ccd.domain.dispositions import Disposition

_AUTO: dict[str, Disposition] = {
    "BUSY": Disposition.BUSY,
    "NO_ANSWER": Disposition.NO_ANSWER,
    "CONGESTION": Disposition.CONGESTION,
    "BAD_NUMBER": Disposition.BAD_NUMBER,
    "REJECTED": Disposition.REJECTED,
    "MACHINE": Disposition.VOICEMAIL,
    "FAX": Disposition.FAX,
    "FAILED": Disposition.FAILED,
    "DROPPED": Disposition.DROPPED,
    # The call vanished with the link (Asterisk restart, crash): a short retry.
    "LOST": Disposition.FAILED,
}


def auto_disposition(outcome: str, *, bridged: bool) -> Disposition | None:
    """The automatic disposition, or None when the agent owes one (a call they talked on).

    A person answered but hung up before reaching an agent and before we dropped the call:
    no contact was made, so it is retried like an unanswered call. A talked call that Asterisk
    cut (LOST: restart, crash) was a contact too: its agent owes the disposition, and it is
    never retried like a failed call.
    """
    if outcome == "ANSWERED":
        return None if bridged else Disposition.NO_ANSWER
    if outcome == "LOST" and bridged:
        return None
    try:
        return _AUTO[outcome]
    except KeyError:
        raise ValueError(f"unknown call outcome {outcome!r}") from None


# When an agent never dispositions a call they talked on (wrap-up timeout, crash, logout):
# the contact was made, so the lead is finished rather than called again.
WRAPUP_TIMEOUT_DISPOSITION = Disposition.END

# What an agent may set on the call they just finished.
AGENT_DISPOSITIONS: frozenset[Disposition] = frozenset(
    {
        Disposition.END,
        Disposition.CALLBACK,
        Disposition.NO_ANSWER,
        Disposition.BUSY,
        Disposition.VOICEMAIL,
        Disposition.BAD_NUMBER,
        Disposition.FAX,
    }
)
