"""Programmable far ends: what the called party (or the caller, for inbound calls) does.

All times are simulated seconds; the double multiplies them by its time_scale.
"""

from __future__ import annotations

from dataclasses import dataclass

# Outcome of a call the far end does not answer: (Q.850 cause, Dial status), per README fact 8.
FAILURES: dict[str, tuple[int, str]] = {
    "busy": (17, "BUSY"),
    "congestion": (34, "CONGESTION"),
    "unallocated": (1, "NOANSWER"),
    "rejected": (21, "NOANSWER"),
}
TONES = {"CNG": 1100, "CED": 2100}


@dataclass(frozen=True, slots=True)
class FarEnd:
    kind: str  # "answer" | "no_answer" | one of FAILURES
    after: float = 0.0  # ring time before answering or failing
    hangup_after: float | None = None  # seconds after answer; None = stays up
    hangup_cause: int = 16
    sip: int | None = None  # SIP status of a failure, reported as tech_cause on PJSIP channels
    dtmf: str = ""
    dtmf_at: float = 1.0  # seconds after answer (inbound: after entering Stasis)
    tone: str | None = None  # "CNG" | "CED": fax tones after answer
    amd: str = "HUMAN"  # what AMD() concludes on this far end
    indication: bool = False  # busy signalled as an indication (dialplan Busy()), not a hangup
    # A fax machine receiving our SendFAX(): None takes every page; else the transfer fails
    # with this FAXERROR after fax_pages pages.
    fax_error: str | None = None
    fax_pages: int = 0

    @classmethod
    def answer(cls, after: float = 0.0, hangup_after: float | None = None, dtmf: str = "",
               dtmf_at: float = 1.0, hangup_cause: int = 16) -> FarEnd:
        return cls("answer", after, hangup_after, hangup_cause, dtmf=dtmf, dtmf_at=dtmf_at)

    human = answer

    @classmethod
    def machine(cls, after: float = 0.0, hangup_after: float | None = None) -> FarEnd:
        return cls("answer", after, hangup_after, amd="MACHINE")

    @classmethod
    def fax(cls, after: float = 0.0, tone: str = "CNG", hangup_after: float | None = None,
            error: str | None = None, pages: int = 0) -> FarEnd:
        """A fax machine. Sent a fax (SendFAX), it takes every page, or with `error` fails
        after `pages` pages with that FAXERROR."""
        if tone not in TONES:
            raise ValueError(f"fax tone must be one of {sorted(TONES)}, got {tone!r}")
        if pages < 0:
            raise ValueError(f"pages must be >= 0, got {pages}")
        return cls("answer", after, hangup_after, tone=tone, amd="NOTSURE", fax_error=error,
                   fax_pages=pages)  # fmt: skip

    @classmethod
    def busy(cls, after: float = 0.0, sip: int | None = 486, indication: bool = False) -> FarEnd:
        """indication=True: a Local far end running Busy() instead of Hangup(17); Asterisk then
        reports Dial BUSY with cause 0 on the originated channel (32)."""
        return cls("busy", after, sip=sip, indication=indication)

    @classmethod
    def congestion(cls, after: float = 0.0, sip: int | None = 503) -> FarEnd:
        return cls("congestion", after, sip=sip)

    @classmethod
    def unallocated(cls, after: float = 0.0, sip: int | None = 404) -> FarEnd:
        return cls("unallocated", after, sip=sip)

    @classmethod
    def rejected(cls, sip: int | None = 603, after: float = 2.0) -> FarEnd:
        return cls("rejected", after, sip=sip)

    @classmethod
    def no_answer(cls) -> FarEnd:
        # The PJSIP timeout reports tech_cause 480 (README fact 8).
        return cls("no_answer", sip=480)

    @property
    def answers(self) -> bool:
        return self.kind == "answer"
