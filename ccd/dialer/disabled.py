"""Taking disabled agents off the phones.

`ccd agent disable`, or `ccd user disable` of the agent's user, refuses the agent's token at once
(ccd.api.auth), but a logged-in agent's phone session lives in the engine and would go on taking
calls. This watch logs such an agent out: at once when idle or paused; when on a call, the call
goes on (a customer is never cut off for an account change) and the agent is paused after it,
then logged out. It wakes on the sessions NOTIFY (ccd.api.session_watch), looks again every
`busy_recheck_s` while a disabled agent is still on a call, and every `recheck_s` anyway (a
NOTIFY sent while the listening connection was down is lost).
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from ccd.dialer.agents import AgentService
from ccd.domain.agents import AgentState
from ccd.log import get_logger
from ccd.store import agents as agent_store

log = get_logger(__name__)

REASON = "agent disabled"


class DisabledAgents:
    def __init__(
        self,
        pool: asyncpg.Pool,
        agents: AgentService,
        *,
        recheck_s: float = 60.0,
        busy_recheck_s: float = 2.0,
    ) -> None:
        self._pool = pool
        self._agents = agents
        self._recheck_s = recheck_s
        self._busy_recheck_s = busy_recheck_s
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        while True:
            try:
                busy = await self.check_once()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("agents.disabled_check_failed", error=str(exc))
                busy = False
            wait = self._busy_recheck_s if busy else self._recheck_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)
            self._wakeup.clear()

    async def check_once(self) -> bool:
        """Retire the logged-in agents that are disabled; True while one is still on a call."""
        logged_in = [
            s.agent_id for s in self._agents.sessions() if s.state is not AgentState.LOGGED_OUT
        ]
        if not logged_in:
            return False
        busy = False
        for agent_id in await agent_store.disabled_among(self._pool, logged_in):
            out = await self._agents.retire(agent_id, REASON)
            log.info("agent.disabled_retired", agent_id=agent_id, logged_out=out)
            busy = busy or not out
        return busy
