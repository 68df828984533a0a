"""Message templates: `{first_name}`, `{fields.balance}`; a plain fallback when a variable is
missing; SMS parts. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")
# GSM 03.38 basic set; the extension characters count twice.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")


def variables(template: str) -> list[str]:
    return _VAR.findall(template)


def _lookup(name: str, values: Mapping[str, Any]) -> str | None:
    if name.startswith("fields."):
        fields = values.get("fields") or {}
        value = fields.get(name.removeprefix("fields."))
    else:
        value = values.get(name)
    if value is None or value == "":
        return None
    return str(value)


def render(template: str, values: Mapping[str, Any]) -> str | None:
    """The template with its variables filled in; None when one of them has no value."""
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(m[1], values)
        if value is None:
            missing = True
            return ""
        return value

    text = _VAR.sub(fill, template)
    return None if missing else text


def render_or_fallback(template: str, fallback: str, values: Mapping[str, Any]) -> str:
    """The rendered template, or the fallback (itself rendered, else as written)."""
    text = render(template, values)
    if text is not None:
        return text
    return render(fallback, values) or fallback


def sms_parts(text: str) -> int:
    """Parts of a concatenated SMS: GSM-7 160/153 characters, else UCS-2 70/67 (UTF-16
    units)."""
    if not text:
        return 1
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in text):
        units, single, multi = len(text) + sum(ch in _GSM7_EXT for ch in text), 160, 153
    else:
        units, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)
