"""Names people type and everyone reads (campaigns, agents, users): one printable line."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_one_line(value: str) -> str:
    """`value` unchanged; ValueError when it holds a newline or another control character."""
    m = _CONTROL.search(value)
    if m is not None:
        raise ValueError(
            f"control character U+{ord(m.group()):04X} at position {m.start() + 1}:"
            " a name is one line of printable text"
        )
    return value
