"""Typed errors of the Asterisk adapter; each keeps the node and Asterisk's own message."""

from __future__ import annotations


class PbxError(Exception):
    """Base of every adapter error."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(f"{node}: {message}" if node else message)
        self.node = node
        self.message = message


class PbxUnavailable(PbxError):
    """No usable link to the node (connection refused, link down, no node connected)."""


class PbxTimeout(PbxError):
    """A request or action got no answer in time; it may or may not have taken effect."""


class AriError(PbxError):
    """An ARI REST call answered with an error status."""

    def __init__(self, status: int, message: str, *, node: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path} -> {status} {message}", node=node)
        self.status = status
        self.asterisk_message = message
        self.method = method
        self.path = path


class AriBadRequest(AriError):
    """400: a parameter is missing or wrong (also "Channel not found" on addChannel)."""


class AriAuthError(AriError):
    """401/403: wrong ARI user or password; fatal at start."""


class AriNotFound(AriError):
    """404: the channel, bridge, playback or variable does not exist (any more)."""


class AriConflict(AriError):
    """409: duplicate id, or the channel is not in our Stasis application."""


class AriUnprocessable(AriError):
    """422: e.g. removeChannel of a channel that is not in the bridge."""


class AriServerError(AriError):
    """5xx: Asterisk failed (allocation failed, cannot create bridge, ...)."""


class AriNotBooted(AriServerError):
    """503 "Asterisk not booted": the node is starting; retry later."""


class AmiError(PbxError):
    """An AMI action answered `Response: Error` (the Message is kept)."""


class AmiAuthError(AmiError):
    """AMI login refused; fatal at start."""


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriAuthError,
    403: AriAuthError,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def ari_error(status: int, message: str, *, node: str, method: str, path: str) -> AriError:
    cls: type[AriError]
    if status == 503:
        cls = AriNotBooted
    elif status >= 500:
        cls = AriServerError
    else:
        cls = _BY_STATUS.get(status, AriError)
    return cls(status, message, node=node, method=method, path=path)
