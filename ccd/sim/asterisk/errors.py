"""REST failures as Asterisk answers them."""

from __future__ import annotations


class AriError(Exception):
    """A REST failure with Asterisk's status and body."""

    def __init__(self, status: int, message: str, key: str = "message") -> None:
        super().__init__(message)
        self.status = status
        self.body = {key: message}
