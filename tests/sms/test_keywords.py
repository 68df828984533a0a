"""Keyword matching (pure): first word, any case, Latin and Cyrillic, the STOP family built in."""

from __future__ import annotations

import pytest

from ccd.messaging.keywords import (
    STOP_EN,
    STOP_RU,
    Assign,
    ConsentAction,
    KeywordError,
    Rule,
    Rules,
    fold,
    new_rule,
    reply_text,
)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("STOP", "STOP"), ("stop", "STOP"), ("Stop!", "STOP"), ("  stop please", "STOP"),
        ("СТОП", "СТОП"), ("стоп.", "СТОП"), ("Стоп рассылку", "СТОП"), ("«Отписка»", "ОТПИСКА"),
        ("отписаться", "ОТПИСАТЬСЯ"), ("Unsubscribe", "UNSUBSCRIBE"),
        ("SТОP", "STOP"),  # Т and О typed on the Cyrillic layout
        ("please stop", None), ("stopped", None), ("", None), ("!!!", None),
    ],
)  # fmt: skip
def test_the_stop_family_is_built_in(text: str, code: str | None) -> None:
    rule = Rules({}).match(text)
    assert (rule.code if rule else None) == code
    if rule is not None:
        assert rule.consent is ConsentAction.OPT_OUT and rule.assign is Assign.AUTO
        assert rule.reply == (STOP_RU if code and code[0] in "СО" else STOP_EN)


def test_operator_rules_match_in_latin_and_cyrillic_any_case() -> None:
    key_vote, vote = new_rule("vote", None, "inbox", None)
    key_zap, zap = new_rule("Запись", "Ждём вас", "auto", "opt_in")
    rules = Rules({key_vote: vote, key_zap: zap})
    assert vote.code == "VOTE" and zap.code == "ЗАПИСЬ"
    assert rules.match("VOTE 5") is vote and rules.match("vote") is vote
    assert rules.match("ЗАПИСЬ на вторник") is zap and rules.match("запись") is zap
    assert rules.match("записи") is None
    assert fold("ёлка") == fold("ЕЛКА")


def test_a_stop_word_rule_changes_the_reply_never_the_opt_out() -> None:
    key, rule = new_rule("stop", "Вы отписаны, {first_name}.", "inbox", None)
    assert rule.consent is ConsentAction.OPT_OUT
    stored = Rules({key: Rule("STOP", None, Assign.INBOX, None)}).match("stop")
    assert stored is not None and stored.consent is ConsentAction.OPT_OUT
    assert stored.reply == STOP_EN  # no reply of its own: the built-in confirmation
    with pytest.raises(KeywordError, match="--opt-in: STOP is a STOP word"):
        new_rule("STOP", None, "auto", "opt_in")


@pytest.mark.parametrize(
    ("code", "assign", "message"),
    [("two words", "inbox", "CODE: 'two words' must be one word"), ("!!", "inbox", "CODE"),
     ("VOTE", "queue", "--assign: 'queue' is not inbox or auto")],
)  # fmt: skip
def test_bad_rules_are_refused_naming_the_field(code: str, assign: str, message: str) -> None:
    with pytest.raises(KeywordError, match=message):
        new_rule(code, None, assign, None)


def test_reply_templates_fill_in_first_name_and_code_or_leave_them_out() -> None:
    rule = Rule("ЗАПИСЬ", "Записали вас, {first_name}! Код {code}.", Assign.AUTO, None)
    assert reply_text(rule, "Анна") == "Записали вас, Анна! Код ЗАПИСЬ."
    assert reply_text(rule, None) == "Записали вас! Код ЗАПИСЬ."
    assert reply_text(Rule("X", "Hi {first_name}, thanks", Assign.AUTO, None), None) == "Hi, thanks"
    assert reply_text(Rule("X", None, Assign.INBOX, None), "Анна") is None
