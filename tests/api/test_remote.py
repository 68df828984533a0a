"""The client's address behind trusted proxies (ccd.api.remote)."""

from __future__ import annotations

from ipaddress import ip_network
from unittest import mock

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ccd.api.remote import forwarded_remote


async def _remote(peer: str, xff: str | None, trusted: list[str]) -> str | None:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 4711) if name == "peername" else default
    )
    headers = {"X-Forwarded-For": xff} if xff is not None else {}
    request = make_mocked_request("POST", "/api/login", headers=headers, transport=transport)
    seen: list[str | None] = []

    async def handler(req: web.Request) -> web.Response:
        seen.append(req.remote)
        return web.Response()

    await forwarded_remote([ip_network(t) for t in trusted])(request, handler)
    return seen[0]


async def test_the_header_counts_only_from_a_trusted_proxy() -> None:
    # Any other peer keeps its own address: else anyone could choose whom the limiter counts.
    assert await _remote("192.0.2.1", "203.0.113.5", []) == "192.0.2.1"
    assert await _remote("192.0.2.1", "203.0.113.5", ["10.0.0.0/8"]) == "192.0.2.1"
    assert await _remote("10.0.0.2", "203.0.113.5", ["10.0.0.0/8"]) == "203.0.113.5"


async def test_the_right_most_untrusted_hop_is_the_client() -> None:
    trusted = ["10.0.0.0/8"]
    # A client's own forged entry sits left of what the proxies appended: it is not believed.
    assert await _remote("10.0.0.2", "1.1.1.1, 203.0.113.5, 10.0.0.9", trusted) == "203.0.113.5"
    assert await _remote("10.0.0.2", "10.0.0.8, 10.0.0.9", trusted) == "10.0.0.2"
    assert await _remote("10.0.0.2", "not-an-ip, 10.0.0.9", trusted) == "10.0.0.2"
    assert await _remote("10.0.0.2", None, trusted) == "10.0.0.2"
    assert await _remote("::ffff:10.0.0.2", "2001:db8::5", ["::ffff:10.0.0.0/104"]) == "2001:db8::5"
