"""Segments: declarative rules over contact attributes, compiled to one SQL condition.

    compile_rules(["age >= 60", "language = uk"], params) -> "(... AND ...)"

Pure: no I/O. Values go out as query parameters (appended to `params`, referenced as $n),
never pasted into the SQL. A rule on an attribute the contact lacks is false (SQL NULL).
"""

from __future__ import annotations

import re
from typing import Any

# attribute -> (SQL expression over contacts c, Python type of its values)
ATTRIBUTES: dict[str, tuple[str, type]] = {
    "age": ("date_part('year', age(current_date, c.birth_date))::int", int),
    "age_group": ("c.age_group", str),
    "gender": ("c.gender", str),
    "language": ("c.language", str),
    "social_status": ("c.social_status", str),
    "first_name": ("c.first_name", str),
    "time_zone": ("c.time_zone", str),
}
_OPS = ("<=", ">=", "!=", "=", "<", ">")
_RULE = re.compile(
    r"^\s*(?P<attr>[a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_]+)?)\s*"
    r"(?:(?P<op><=|>=|!=|=|<|>)\s*(?P<value>.+?)|(?P<neg>not\s+)?in\s*\[(?P<list>[^\]]*)\])\s*$",
    re.IGNORECASE,
)


class RuleError(ValueError):
    """A rule that cannot be compiled; the message quotes it and says why."""


def _attribute(name: str, rule: str) -> tuple[str, type]:
    if name.startswith("fields."):
        return f"(c.fields ->> '{name.removeprefix('fields.')}')", str
    try:
        return ATTRIBUTES[name]
    except KeyError:
        known = ", ".join([*ATTRIBUTES, "fields.NAME"])
        raise RuleError(f"{rule!r}: unknown attribute {name!r} (known: {known})") from None


def _value(text: str, kind: type, rule: str) -> Any:
    text = text.strip().strip("'\"")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise RuleError(f"{rule!r}: {text!r} is not a whole number") from None
    return text


def _param(params: list[Any], value: Any) -> str:
    params.append(value)
    return f"${len(params)}"


def compile_rule(rule: str, params: list[Any]) -> str:
    m = _RULE.match(rule)
    if m is None:
        raise RuleError(
            f"{rule!r}: expected ATTRIBUTE OP VALUE (OP one of {' '.join(_OPS)})"
            " or ATTRIBUTE [not] in [A, B]"
        )
    expr, kind = _attribute(m["attr"].lower(), rule)
    cast = "::int[]" if kind is int else "::text[]"
    if m["list"] is not None:
        values = [_value(v, kind, rule) for v in m["list"].split(",") if v.strip()]
        if not values:
            raise RuleError(f"{rule!r}: the list is empty")
        ref = _param(params, values)
        if m["neg"]:
            return f"({expr} IS NOT NULL AND NOT ({expr} = ANY({ref}{cast})))"
        return f"({expr} = ANY({ref}{cast}))"
    op = "<>" if m["op"] == "!=" else m["op"]
    ref = _param(params, _value(m["value"], kind, rule))
    if op == "<>":
        return f"({expr} IS NOT NULL AND {expr} <> {ref})"
    return f"({expr} {op} {ref})"


def compile_rules(rules: list[str], params: list[Any]) -> str:
    """All rules must hold; no rules = every contact."""
    if not rules:
        return "TRUE"
    return "(" + " AND ".join(compile_rule(r, params) for r in rules) + ")"
