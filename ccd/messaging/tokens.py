"""Unsubscribe tokens: the message id signed with its mailing's key (HMAC-SHA256), so a link
names one message and cannot be guessed, with nothing to store per message. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_key() -> str:
    return secrets.token_hex(16)


UNSUBSCRIBE = "u"
CONFIRM = "c"  # a double opt-in confirmation: a link of one kind never works as the other


def _sign(key: str, message_id: int, kind: str) -> str:
    data = f"{kind}:{message_id}".encode()
    mac = hmac.new(key.encode(), data, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make(key: str, message_id: int, kind: str = UNSUBSCRIBE) -> str:
    return f"{message_id}-{_sign(key, message_id, kind)}"


def message_id(token: str) -> int | None:
    """The message a token claims to be for (verify it with `valid`), None if malformed."""
    head, sep, _ = token.partition("-")
    if not sep or not head.isdigit() or len(head) > 18:
        return None
    return int(head)


def valid(key: str, token: str, kind: str = UNSUBSCRIBE) -> bool:
    mid = message_id(token)
    return mid is not None and hmac.compare_digest(token, make(key, mid, kind))
