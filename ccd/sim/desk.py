"""A simulated person at an agent console, driving ccd only through the agent API.

It logs in with its token, follows its own state on the agent WebSocket, and after each call
takes its wrap-up time (simulated seconds, shrunk by the simulation's speed) before it sets
the disposition with POST /api/agent/disposition. `ccd demo` staffs its campaign with these;
the end-to-end pacing test does too.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ccd.domain.agents import AgentState
from ccd.domain.dispositions import Disposition
from ccd.log import get_logger

log = get_logger(__name__)


class Desk:
    """One agent: `wrap_s()` draws each wrap-up's simulated seconds; a `callback_share` of
    calls end with a CALLBACK tomorrow, the rest with END."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str, speed: float,
                 rng: random.Random, *, wrap_s: Callable[[], float] | None = None,
                 callback_share: float = 0.08) -> None:  # fmt: skip
        self._http = http
        self._base = base
        self._auth = {"Authorization": f"Bearer {token}"}
        self._speed = speed
        self._rng = rng
        self._wrap_s = wrap_s or (lambda: rng.uniform(5, 20))
        self._callback_share = callback_share
        self.calls = 0  # calls wrapped up

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        async with self._http.post(self._base + path, json=body or {}, headers=self._auth) as r:
            if r.status >= 400:
                log.warning("desk.refused", path=path, status=r.status, body=await r.text())

    async def login(self) -> None:
        await self._post("/api/agent/login")

    async def work(self) -> None:
        """Until the socket closes: each WRAP_UP on the agent WebSocket gets a disposition."""
        url = self._base.replace("http", "ws", 1) + "/api/agent/ws"
        async with self._http.ws_connect(url, headers=self._auth) as ws:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                agent = data.get("agent") or {}
                if agent.get("state") == AgentState.WRAP_UP.value:
                    await self._wrap_up()

    async def _wrap_up(self) -> None:
        await asyncio.sleep(self._wrap_s() / self._speed)
        if self._rng.random() < self._callback_share:
            when = datetime.now(UTC) + timedelta(days=1)
            body = {"disposition": Disposition.CALLBACK.value, "callback_at": when.isoformat()}
        else:
            body = {"disposition": Disposition.END.value}
        await self._post("/api/agent/disposition", body)
        self.calls += 1
