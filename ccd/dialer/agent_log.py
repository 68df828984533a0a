"""Agent state changes on their way to PostgreSQL: in the order they happened, many per statement.

Changes are applied in memory at once (routing a call must not wait for the database); this
writer persists them behind. Whatever piles up while one statement is in flight goes in the
next one, so a burst of answers reserving 100 agents costs a couple of round trips, not 100.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from ccd.domain.agents import Transition
from ccd.log import get_logger
from ccd.store import agents as agent_store

log = get_logger(__name__)


class AgentLogWriter:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: list[tuple[Transition, datetime]] = []
        self._pending_saved: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, change: Transition, at: datetime) -> asyncio.Future[None]:
        """Queue one change; the future is done once it is written (or its failure logged)."""
        if self._pending_saved is None:
            self._pending_saved = asyncio.get_running_loop().create_future()
        self._pending.append((change, at))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return self._pending_saved

    async def _run(self) -> None:
        while self._pending:
            batch, saved = self._pending, self._pending_saved
            self._pending, self._pending_saved = [], None
            try:
                await self._write(batch)
            finally:
                if saved is not None and not saved.done():
                    saved.set_result(None)

    async def _write(self, batch: list[tuple[Transition, datetime]]) -> None:
        try:
            await agent_store.record_transitions(self._pool, batch)
            return
        except asyncpg.PostgresError as exc:
            if len(batch) == 1:
                _not_saved(batch, exc)
                return
        except OSError as exc:
            _not_saved(batch, exc)
            return
        # One bad row fails the statement: write them one by one so only it is lost.
        for change in batch:
            try:
                await agent_store.record_transitions(self._pool, [change])
            except (asyncpg.PostgresError, OSError) as exc:
                _not_saved([change], exc)


def _not_saved(batch: list[tuple[Transition, datetime]], exc: Exception) -> None:
    for t, at in batch:
        log.error("agent.state_not_saved", agent_id=t.agent_id, to=t.to_state, at=at.isoformat(),
                  error=str(exc))  # fmt: skip
