"""Segments in PostgreSQL: named rule lists, and how many contacts each holds now."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import yaml

from ccd.messaging.segments import RuleError, compile_rules
from ccd.store.db import AnyConnection


class SegmentError(ValueError):
    """A bad rule, file or name; the message says which."""


def check_rules(rules: list[str]) -> None:
    compile_rules(rules, [])  # raises RuleError naming the rule


async def save_segment(conn: AnyConnection, name: str, rules: list[str]) -> None:
    """Create the segment, or replace its rules."""
    try:
        check_rules(rules)
    except RuleError as exc:
        raise SegmentError(f"segment {name!r}: {exc}") from None
    await conn.execute(
        "INSERT INTO segments (name, rules) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET rules = excluded.rules",
        name, rules,
    )  # fmt: skip


def read_segments_file(path: Path) -> dict[str, list[str]]:
    """YAML: `seniors: ["age >= 60"]`, one segment per key, a list of rules (all must hold)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SegmentError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise SegmentError(f"{path}: expected a mapping of segment name to a list of rules")
    out: dict[str, list[str]] = {}
    for name, rules in raw.items():
        if isinstance(rules, str):
            rules = [rules]
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise SegmentError(f"{path}: segment {name!r}: expected a list of rule strings")
        try:
            check_rules(rules)
        except RuleError as exc:
            raise SegmentError(f"{path}: segment {name!r}: {exc}") from None
        out[str(name)] = rules
    return out


async def count(conn: asyncpg.Connection, rules: list[str]) -> int:
    params: list[object] = []
    where = compile_rules(rules, params)
    n: int = await conn.fetchval(f"SELECT count(*) FROM contacts c WHERE {where}", *params)
    return n


async def list_segments(conn: asyncpg.Connection) -> list[tuple[str, list[str], int]]:
    rows = await conn.fetch("SELECT name, rules FROM segments ORDER BY name")
    out = []
    for r in rows:
        rules = r["rules"]
        out.append((r["name"], rules, await count(conn, rules)))
    return out


async def get_rules(conn: asyncpg.Connection, name: str) -> list[str]:
    raw = await conn.fetchval("SELECT rules FROM segments WHERE name = $1", name)
    if raw is None:
        raise SegmentError(f"no segment named {name!r} (see `ccd segment list`)")
    rules: list[str] = raw
    return rules
