"""Which links may carry a number, in the order to try them (pure, like call trunks)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from ccd.messaging.sms.settings import LinkSettings


def _digits(prefix: str) -> str:
    return prefix.lstrip("+")


def candidates(number: str, links: Sequence[LinkSettings], turn: int = 0) -> list[LinkSettings]:
    """Links whose prefix matches the number, longest match first, then the links without
    prefixes (they carry any number). Links that match equally share the load: `turn`
    rotates which of them comes first, the others follow as its failover. A link whose
    prefixes all miss is not a candidate: that carrier does not serve the number. (A pure
    backup is a link with a shorter prefix, or none.)"""
    digits = _digits(number)
    scored: list[tuple[int, int, LinkSettings]] = []
    for order, link in enumerate(links):
        if not link.prefixes:
            scored.append((0, order, link))
            continue
        best = max((len(_digits(p)) for p in link.prefixes if digits.startswith(_digits(p))),
                   default=None)  # fmt: skip
        if best is not None:
            scored.append((best, order, link))
    scored.sort(key=lambda s: (-s[0], s[1]))
    out: list[LinkSettings] = []
    for _, group in groupby(scored, key=lambda s: s[0]):
        tied = [link for _, _, link in group]
        k = turn % len(tied)
        out += tied[k:] + tied[:k]
    return out
