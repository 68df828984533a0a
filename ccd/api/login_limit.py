"""The throttle on POST /api/login: per (login, client address) and per client address.

An attempt is counted when it starts, before its password is checked, so a burst of concurrent
requests cannot all pass the check while the hashes run. Each key allows `free` attempts; every
attempt past that makes the key wait twice as long as the previous one (1 s, 2 s, 4 s ... up to
`max_wait_s`), and a key quiet for `forget_s` starts afresh. A successful login clears its
(login, address) key and takes its own attempt back from the address key, so colleagues behind
one NAT do not use up each other's attempts, and nobody can lock a user out from elsewhere:
the address key only throttles the address that keeps failing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Key:
    attempts: int = 0
    last: float = 0.0
    next_allowed: float = 0.0


@dataclass(frozen=True, slots=True)
class LoginTicket:
    """The keys one attempt was counted under; hand it back to `succeeded`."""

    pair: str
    address: str


class LoginLimiter:
    def __init__(
        self,
        *,
        free_per_login: int = 5,
        free_per_address: int = 30,
        base_wait_s: float = 1.0,
        max_wait_s: float = 900.0,
        forget_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.free_per_login = free_per_login
        self.free_per_address = free_per_address
        self.base_wait_s = base_wait_s
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._clock = clock
        self._keys: dict[str, _Key] = {}

    def begin(self, login: str, address: str) -> LoginTicket | int:
        """Count an attempt and return its ticket, or the whole seconds to wait (nothing
        counted) when one of its keys is backing off."""
        now = self._clock()
        if len(self._keys) > self.max_keys:  # a spray of logins: drop what is forgotten
            for name in [n for n, k in self._keys.items() if now - k.last >= self.forget_s]:
                del self._keys[name]
        ticket = LoginTicket(f"login:{login}\0ip:{address}", f"ip:{address}")
        keys = ((ticket.pair, self.free_per_login), (ticket.address, self.free_per_address))
        wait = max(self._key(name, now).next_allowed - now for name, _ in keys)
        if wait > 0:
            return max(1, math.ceil(wait))
        for name, free in keys:
            key = self._keys[name]
            key.attempts += 1
            key.last = now
            over = key.attempts - free
            if over >= 0:  # (the exponent is capped: 2**over would overflow a float)
                wait_s = self.base_wait_s * 2 ** min(over, 40)
                key.next_allowed = now + min(self.max_wait_s, wait_s)
        return ticket

    def succeeded(self, ticket: LoginTicket) -> None:
        """The attempt logged in: forget its (login, address) failures, give the address its
        attempt back."""
        self._keys.pop(ticket.pair, None)
        key = self._keys.get(ticket.address)
        if key is not None:
            key.attempts = max(0, key.attempts - 1)
            if key.attempts < self.free_per_address:
                key.next_allowed = 0.0

    def _key(self, name: str, now: float) -> _Key:
        key = self._keys.get(name)
        if key is None or now - key.last >= self.forget_s:
            key = self._keys[name] = _Key(last=now)
        return key
