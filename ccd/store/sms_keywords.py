"""Keyword rules of inbound SMS as the operator set them (`ccd sms keyword add/list/remove`)."""

from __future__ import annotations

import asyncpg

from ccd.log import get_logger
from ccd.messaging.keywords import (
    STOP_FAMILY,
    Assign,
    ConsentAction,
    KeywordError,
    Rule,
    Rules,
    fold,
    new_rule,
)
from ccd.store.db import AnyConnection

log = get_logger(__name__)

Conn = AnyConnection | asyncpg.Pool


async def add_keyword(
    conn: Conn, code: str, *, reply: str | None, assign: str, consent: str | None
) -> Rule:
    key, rule = new_rule(code, reply, assign, consent)
    try:
        await conn.execute(
            "INSERT INTO sms_keywords (code, match_key, reply, assign, consent)"
            " VALUES ($1, $2, $3, $4, $5)",
            rule.code, key, rule.reply, rule.assign.value,
            rule.consent.value if rule.consent else None,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise KeywordError(f"CODE: a rule for {code!r} exists already (remove it first)") from None
    log.info("sms.keyword.added", code=rule.code, assign=rule.assign.value,
             consent=rule.consent.value if rule.consent else None)  # fmt: skip
    return rule


async def remove_keyword(conn: Conn, code: str) -> None:
    removed = await conn.fetchval(
        "DELETE FROM sms_keywords WHERE match_key = $1 RETURNING id", fold(code)
    )
    if removed is None:
        why = " (a built-in STOP word: it cannot be removed)" if fold(code) in STOP_FAMILY else ""
        raise KeywordError(f"CODE: no rule for {code!r}{why}")
    log.info("sms.keyword.removed", code=code)


async def load_rules(conn: Conn) -> Rules:
    """The stored rules over the built-in STOP family (a stored STOP word keeps opting out)."""
    rows = await conn.fetch("SELECT code, match_key, reply, assign, consent FROM sms_keywords")
    return Rules({
        r["match_key"]: Rule(r["code"], r["reply"], Assign(r["assign"]),
                             ConsentAction(r["consent"]) if r["consent"] else None)
        for r in rows
    })  # fmt: skip
