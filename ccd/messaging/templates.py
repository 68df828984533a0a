"""Message templates: `{first_name}`, `{fields.balance}`; a plain fallback when a variable is
missing. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\}")


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
