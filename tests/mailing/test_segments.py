"""Segment rules compile to SQL with parameters (pure), and select the right contacts."""

from __future__ import annotations

import asyncpg
import pytest

from ccd.messaging.segments import RuleError, compile_rule, compile_rules


def test_rules_compile_to_parameterised_sql() -> None:
    params: list[object] = []
    sql = compile_rules(["age >= 60", "gender = f", "social_status in [student, retired]"], params)
    assert params == [60, "f", ["student", "retired"]]
    assert "$1" in sql and "$2" in sql and "$3" in sql
    assert "student" not in sql  # values travel as parameters, never in the text


def test_fields_and_negations() -> None:
    params: list[object] = []
    assert compile_rule("fields.city != Kyiv", params) == (
        "((c.fields ->> 'city') IS NOT NULL AND (c.fields ->> 'city') <> $1)"
    )
    assert "NOT" in compile_rule("language not in [ru]", params)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("height > 3", "unknown attribute 'height'"),
        ("age >= old", "'old' is not a whole number"),
        ("age", "expected ATTRIBUTE OP VALUE"),
        ("language in []", "the list is empty"),
        ("fields.x'; drop table contacts; -- = 1", "expected ATTRIBUTE OP VALUE"),
    ],
)
def test_bad_rules_are_named(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        compile_rule(rule, [])


async def test_segments_select_in_sql(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO contacts (phone, birth_date, gender, language, social_status, fields) VALUES"
        " ('+74951000001', '1950-01-01', 'f', 'uk', 'retired', '{\"city\": \"Kyiv\"}'),"
        " ('+74951000002', '2004-01-01', 'm', 'uk', 'student', '{}'),"
        " ('+74951000003', NULL, 'f', 'ru', NULL, '{\"city\": \"Lviv\"}')"
    )

    async def phones(rules: list[str]) -> list[str]:
        params: list[object] = []
        where = compile_rules(rules, params)
        rows = await pool.fetch(f"SELECT phone FROM contacts c WHERE {where} ORDER BY 1", *params)
        return [r["phone"][-1] for r in rows]

    assert await phones(["age >= 60"]) == ["1"]
    assert await phones(["gender = f"]) == ["1", "3"]
    assert await phones(["language = uk", "social_status in [student]"]) == ["2"]
    assert await phones(["fields.city != Kyiv"]) == ["3"]
    assert await phones(["age < 60"]) == ["2"]  # no birth date: in neither age segment
    assert await phones([]) == ["1", "2", "3"]
