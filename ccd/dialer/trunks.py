"""Which trunk a number goes out on: longest matching route prefix, then route position,
skipping trunks that are disabled or at their channel cap.

Channel counts are this process's own (two ccd instances on one trunk each need their share
of its cap in max_channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(eq=False)
class Trunk:
    id: int
    name: str
    dial_template: str
    max_channels: int
    node: str | None
    in_use: int = 0

    def endpoint(self, number: str) -> str:
        return self.dial_template.replace("{number}", number)

    @property
    def free(self) -> int:
        return max(0, self.max_channels - self.in_use)


class NoRoute(LookupError):
    pass


class TrunkTable:
    def __init__(self, trunks: list[Trunk], routes: list[tuple[str, int, int]]) -> None:
        """routes: (prefix, position, trunk_id)."""
        self._trunks = {t.id: t for t in trunks}
        # Longest prefix first, then position: the first route that matches and has room wins.
        self._routes = sorted(
            ((p, pos, tid) for p, pos, tid in routes if tid in self._trunks),
            key=lambda r: (-len(r[0]), r[1]),
        )

    @classmethod
    async def load(cls, conn: asyncpg.Connection | asyncpg.Pool) -> TrunkTable:
        trunks = [
            Trunk(r["id"], r["name"], r["dial_template"], r["max_channels"], r["node"])
            for r in await conn.fetch(
                "SELECT id, name, dial_template, max_channels, node FROM trunks WHERE enabled"
            )
        ]
        routes = [
            (r["prefix"], r["position"], r["trunk_id"])
            for r in await conn.fetch("SELECT prefix, position, trunk_id FROM routes")
        ]
        return cls(trunks, routes)

    def reload_from(self, other: TrunkTable) -> None:
        """Take new trunk settings, keeping the live channel counts."""
        for tid, trunk in other._trunks.items():
            old = self._trunks.get(tid)
            trunk.in_use = old.in_use if old else 0
        self._trunks = other._trunks
        self._routes = other._routes

    def free_total(self, pinned: int | None = None) -> int:
        if pinned is not None:
            t = self._trunks.get(pinned)
            return t.free if t else 0
        return sum(t.free for t in self._trunks.values())

    def acquire(self, number: str, pinned: int | None = None) -> Trunk:
        """A trunk with a free channel for `number` (now counted as in use), or NoRoute."""
        if pinned is not None:
            candidates = [self._trunks[pinned]] if pinned in self._trunks else []
        else:
            candidates = [self._trunks[tid] for p, _, tid in self._routes if number.startswith(p)]
        for trunk in candidates:
            if trunk.in_use < trunk.max_channels:
                trunk.in_use += 1
                return trunk
        raise NoRoute(f"no trunk with a free channel routes {number}")

    def serves(self, number: str) -> bool:
        """Whether any enabled trunk routes `number` (full or not)."""
        return any(number.startswith(p) for p, _, _ in self._routes)

    def release(self, trunk_id: int | None) -> None:
        trunk = self._trunks.get(trunk_id) if trunk_id is not None else None
        if trunk is not None and trunk.in_use > 0:
            trunk.in_use -= 1
