"""Keyword rules of inbound SMS: which rule a customer's message matches. Pure: no I/O.

A message matches on its first word, case-insensitively in Latin and Cyrillic, with the
punctuation around the word ignored ("Stop!", "«СТОП»"). Cyrillic letters that look like
Latin ones (С Т О Р Е ...) fold to them, and Ё to Е, so "STOP" typed on a Russian keyboard
layout half-way ("SТОP") is still STOP. The STOP family is built in: it always opts the sender
out of marketing SMS and confirms; an operator's rule of the same code may change its reply,
never the opt-out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

# Cyrillic letters drawn like Latin ones, folded after casefold (so lower case only).
_LOOKALIKES = str.maketrans("авеёкмнорсухті", "abeekmhopcyxti")
_EDGE = re.compile(r"^\W+|\W+$")
_VAR = re.compile(r"\{([^{}]*)\}")
# what a left-out variable leaves: "Hi , thanks", "Thank you, !"
_DANGLING = re.compile(r"[\s,;:]+(?=[!?.]|$)|\s+(?=[,;:])")


class Assign(StrEnum):
    INBOX = "inbox"  # a person answers it
    AUTO = "auto"  # the rule's reply is the answer


class ConsentAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class KeywordError(ValueError):
    """A rule that cannot be stored; the message names the field."""


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # upper case: the inbox and exports filter on it
    reply: str | None
    assign: Assign
    consent: ConsentAction | None
    builtin: bool = False


def fold(word: str) -> str:
    """The form codes are compared in."""
    return _EDGE.sub("", word).casefold().translate(_LOOKALIKES)


def first_word(text: str) -> str:
    words = text.split(maxsplit=1)
    return fold(words[0]) if words else ""


STOP_EN = "You are unsubscribed: no more offers by SMS from us."
STOP_RU = "Вы отписаны: рекламных SMS от нас больше не будет."
_STOP_CODES = {
    "STOP": STOP_EN, "STOPALL": STOP_EN, "UNSUBSCRIBE": STOP_EN, "CANCEL": STOP_EN,
    "END": STOP_EN, "QUIT": STOP_EN,
    "СТОП": STOP_RU, "ОТПИСКА": STOP_RU, "ОТПИСАТЬСЯ": STOP_RU, "ОТМЕНА": STOP_RU,
}  # fmt: skip
STOP_FAMILY: dict[str, Rule] = {
    fold(code): Rule(code, reply, Assign.AUTO, ConsentAction.OPT_OUT, builtin=True)
    for code, reply in _STOP_CODES.items()
}


def new_rule(code: str, reply: str | None, assign: str, consent: str | None) -> tuple[str, Rule]:
    """A rule as `ccd sms keyword add` gives it, checked: (match key, rule)."""
    if len(code.split()) != 1 or not fold(code):
        raise KeywordError(f"CODE: {code!r} must be one word with a letter or digit")
    try:
        how = Assign(assign)
    except ValueError:
        raise KeywordError(f"--assign: {assign!r} is not inbox or auto") from None
    action = ConsentAction(consent) if consent else None
    key = fold(code)
    if key in STOP_FAMILY and action is not ConsentAction.OPT_OUT:
        if action is ConsentAction.OPT_IN:
            raise KeywordError(f"--opt-in: {code} is a STOP word; it always opts out")
        action = ConsentAction.OPT_OUT
    if reply is not None and not reply.strip():
        raise KeywordError("--reply: empty; leave it out for no reply")
    return key, Rule(code.upper(), reply, how, action)


class Rules:
    """The operator's rules over the built-in STOP family."""

    def __init__(self, stored: Mapping[str, Rule]) -> None:
        self._rules = dict(STOP_FAMILY)
        for key, rule in stored.items():
            builtin = STOP_FAMILY.get(key)
            if builtin is not None:  # a STOP word always opts out and confirms
                rule = replace(
                    rule, consent=ConsentAction.OPT_OUT, reply=rule.reply or builtin.reply
                )
            self._rules[key] = rule

    def match(self, text: str) -> Rule | None:
        return self._rules.get(first_word(text))

    def all(self) -> list[Rule]:
        return list(self._rules.values())


def reply_text(rule: Rule, first_name: str | None) -> str | None:
    """The rule's reply with `{first_name}` and `{code}` filled in; a variable without a value
    is left out, with the comma or space it leaves behind."""
    if rule.reply is None:
        return None
    values = {"first_name": first_name, "code": rule.code}
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(m[1])
        missing = missing or not value
        return value or ""

    text = _VAR.sub(fill, rule.reply)
    return _DANGLING.sub("", " ".join(text.split())) if missing else text
