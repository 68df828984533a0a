"""Message templates: `{first_name}`, `{fields.balance}`; a plain fallback when a variable is
missing; SMS parts. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
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


@lru_cache(maxsize=256)
def _compiled(template: str) -> tuple[tuple[str, tuple[str, str | None] | None], ...]:
    """The template as (literal text, variable) pairs; a variable is (name, field) for
    `{fields.name}` and (name, None) for an attribute. Rendering a mailing's million messages
    then costs no regular-expression work."""
    parts: list[tuple[str, tuple[str, str | None] | None]] = []
    at = 0
    for m in _VAR.finditer(template):
        name = m[1]
        var = (
            ("fields", name.removeprefix("fields.")) if name.startswith("fields.") else (name, None)
        )
        parts.append((template[at : m.start()], var))
        at = m.end()
    parts.append((template[at:], None))
    return tuple(parts)


def render(template: str, values: Mapping[str, Any]) -> str | None:
    """The template with its variables filled in; None when one of them has no value."""
    out: list[str] = []
    for literal, var in _compiled(template):
        out.append(literal)
        if var is None:
            continue
        name, field = var
        value = values.get(name)
        if field is not None:
            value = value.get(field) if value else None
        if value is None or value == "":
            return None
        out.append(str(value))
    return "".join(out)


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
