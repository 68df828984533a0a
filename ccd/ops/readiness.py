"""Is ccd ready to take calls? The database is reachable and at the newest schema revision,
and every configured Asterisk node has both links (ARI events, AMI) connected.

Used by /readyz and by the systemd READY notification, so both mean the same thing.
SMSC links are shown (`smsc`: link -> state) but do not count: calls go on without SMS, and
a message no link can carry waits for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import asyncpg

from ccd.telephony.pbx import LinkStatus

LINKS = ("ari", "ami")

# node name -> {"ari": status, "ami": status}; read at every check, so it is always current.
LinkStatuses = Callable[[], Mapping[str, Mapping[str, LinkStatus]]]


@dataclass(frozen=True)
class Check:
    name: str  # "database", "<node>.ari", "<node>.ami"
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class ReadinessReport:
    checks: tuple[Check, ...]
    smsc: Mapping[str, str] = field(default_factory=dict)  # link -> state; not a check

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def missing(self) -> str:
        """What is not ready, for STATUS= and logs: "database (at 0001, needs 0002), pbx1.ami"."""
        return ", ".join(
            f"{c.name} ({c.detail})" if c.detail else c.name for c in self.checks if not c.ok
        )

    def as_json(self) -> dict[str, object]:
        return {"ready": self.ready, "checks": [asdict(c) for c in self.checks],
                "smsc": dict(self.smsc)}  # fmt: skip


# What /readyz calls: anything that produces a report (a Readiness, or a fake in tests).
ReadinessProbe = Callable[[], Awaitable[ReadinessReport]]


class Readiness:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        head_revision: str | None,
        nodes: Sequence[str],
        links: LinkStatuses,
        smsc: Callable[[], Mapping[str, str]] = dict,
        timeout_s: float = 2.0,
    ) -> None:
        self._pool = pool
        self._head = head_revision
        self._nodes = list(nodes)
        self._links = links
        self._smsc = smsc
        self._timeout_s = timeout_s

    async def __call__(self) -> ReadinessReport:
        checks = [await self._database()]
        statuses = self._links()
        for node in self._nodes:
            per_node = statuses.get(node, {})
            for link in LINKS:
                status = per_node.get(link)
                ok = status is LinkStatus.CONNECTED
                detail = "" if ok else (status.value.lower() if status else "not started")
                checks.append(Check(f"{node}.{link}", ok, detail))
        return ReadinessReport(tuple(checks), self._smsc())

    async def ready(self) -> tuple[bool, str]:
        """For SystemdNotifier.run: (ready, what is missing)."""
        report = await self()
        return report.ready, report.missing()

    async def _database(self) -> Check:
        try:
            async with asyncio.timeout(self._timeout_s), self._pool.acquire() as conn:
                rev = None
                if await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
                    rev = await conn.fetchval("SELECT version_num FROM alembic_version")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            return Check("database", False, f"unreachable: {type(exc).__name__}: {exc}")
        if rev != self._head:
            return Check("database", False, f"schema at {rev or 'base'}, needs {self._head}")
        return Check("database", True)
