"""Which channel one contact gets in one mailing, or why they are left out. Pure: no I/O.

The contact's own preferred channels come first (those the variant allows), then the
variant's order; the first channel with an address, not blacklisted and with the consent
the purpose needs wins. Marketing is capped per contact across every channel.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class LeftOut(StrEnum):
    NO_CONSENT = "no_consent"  # marketing that needs an opt-in, and none (confirmed) is on file
    OPTED_OUT = "opted_out"
    CAPPED = "capped"  # a marketing message went out within the cap
    BLACKLISTED = "blacklisted"  # the number is on the blacklist (sms, fax)
    NO_ADDRESS = "no_address"  # no number / e-mail for the channel, or it bounced for good
    NO_SEGMENT = "no_segment"  # in no variant's segment (never written as a message row)


@dataclass(frozen=True, slots=True)
class Recipient:
    """What the choice needs to know of one contact, for the mailing's purpose."""

    addresses: Mapping[str, str | None]  # channel -> address (None: none usable)
    consent: Mapping[str, str]  # channel -> opt_in | opt_out | pending (absent: unknown)
    preferred: Sequence[str] = ()
    blacklisted: frozenset[str] = frozenset()  # channels whose address is blacklisted
    capped: bool = False


def channel_order(preferred: Sequence[str], allowed: Sequence[str]) -> list[str]:
    first = [c for c in preferred if c in allowed]
    return first + [c for c in allowed if c not in first]


def _reason(channel: str, r: Recipient, marketing: bool, require_opt_in: bool) -> LeftOut | None:
    if not r.addresses.get(channel):
        return LeftOut.NO_ADDRESS
    if channel in r.blacklisted:
        return LeftOut.BLACKLISTED
    status = r.consent.get(channel)
    if status == "opt_out":
        return LeftOut.OPTED_OUT
    if marketing and require_opt_in and status != "opt_in":
        return LeftOut.NO_CONSENT
    return None


def choose(
    r: Recipient,
    allowed: Sequence[str],
    *,
    marketing: bool,
    require_opt_in: bool,
    confirm_pending: Collection[str] = (),
) -> tuple[str | None, LeftOut | None]:
    """(channel, None), or (None, why): the reason is that of the first channel in the order
    (the one the contact would have got).

    `confirm_pending`: the channels on which a mailing asks for double opt-in. A contact with
    no usable channel but one of those whose consent is `pending` gets it: the caller sends
    the confirmation message there (not capped: it is not marketing)."""
    first: LeftOut | None = None
    order = channel_order(r.preferred, allowed)
    for channel in order:
        why = _reason(channel, r, marketing, require_opt_in)
        if why is None:
            if marketing and r.capped:
                return None, LeftOut.CAPPED
            return channel, None
        first = first or why
    for channel in order:
        pending = r.consent.get(channel) == "pending" and r.addresses.get(channel)
        if pending and channel in confirm_pending and channel not in r.blacklisted:
            return channel, None
    return None, first or LeftOut.NO_ADDRESS
