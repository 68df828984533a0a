"""The client's address behind reverse proxies.

Behind nginx or HAProxy every request comes from the proxy, so the login limiter's budget per
address would be one budget for every user. With `http.trusted_proxies` set, a request whose
peer is one of them takes its address from X-Forwarded-For: the right-most entry that is not a
trusted proxy itself (nginx's `real_ip_recursive`). A request from any other peer keeps the
peer's address whatever it sends: the header is only as honest as whoever wrote it.

aiohttp-remotes was weighed: its XForwardedStrict refuses requests that did not come through
the proxy (agents' softphone clients on the LAN do not), and XForwardedFiltered believes the
header from any peer, which would let anyone pick the address the limiter counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from aiohttp import web
from aiohttp.typedefs import Middleware

from ccd.api.auth import Handler

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def forwarded_remote(trusted: Sequence[Network]) -> Middleware:
    """request.remote becomes the client's address when the peer is a trusted proxy."""

    def is_trusted(addr: Address) -> bool:
        return any(addr in net for net in trusted)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = _client(request, is_trusted)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return middleware


def _client(request: web.Request, is_trusted: Callable[[Address], bool]) -> str | None:
    peer = _address(request.remote)
    if peer is None or not is_trusted(peer):
        return request.remote
    hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
    for hop in reversed(hops):
        addr = _address(hop.strip())
        if addr is None:
            break  # a garbled entry: trust nothing left of it
        if not is_trusted(addr):
            return str(addr)
    return request.remote


def _address(text: str | None) -> Address | None:
    try:
        return ip_address(text or "")
    except ValueError:
        return None
