"""Data retention: delete finished history older than a cutoff, in small batches.

Each batch is its own short transaction (keyset over the primary key), so pruning months of
history never holds long locks or a giant transaction next to a running dialer. Only finished
rows go: ended attempts and inbound calls, IVR steps, and agent state changes - keeping, per
agent, the newest change before the cutoff, which tells the agent report the state the
remaining history starts in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ccd.log import get_logger

log = get_logger(__name__)

_AGE = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def parse_age(text: str) -> timedelta:
    """'180d' or '26w' -> a timedelta; at least one day, so live calls are never touched."""
    m = _AGE.match(text)
    if m is None:
        raise ValueError(f"{text!r}: give an age such as 180d (days) or 26w (weeks)")
    n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if n < 1:
        raise ValueError(f"{text!r}: the age must be at least 1d, e.g. 180d")
    return timedelta(days=n)


@dataclass(frozen=True)
class Target:
    table: str
    start: Any  # a key below every primary key of the table: keyset pagination starts here
    where: str  # rows to delete; $1 = the cutoff, the table is aliased t


# IVR steps first: deleting their inbound calls would remove them by cascade, uncounted.
TARGETS = (
    Target("ivr_steps", 0, "t.at < $1"),
    Target("inbound_calls", "", "t.ended_at < $1"),
    Target("attempts", "00000000-0000-0000-0000-000000000000", "t.ended_at < $1"),
    Target(
        "agent_state_log",
        0,
        "t.at < $1 AND EXISTS (SELECT 1 FROM agent_state_log n WHERE n.agent_id = t.agent_id"
        " AND n.at < $1 AND (n.at, n.id) > (t.at, t.id))",
    ),
)


async def count_prunable(conn: asyncpg.Connection, cutoff: datetime) -> dict[str, int]:
    return {
        t.table: await conn.fetchval(f"SELECT count(*) FROM {t.table} t WHERE {t.where}", cutoff)
        for t in TARGETS
    }


async def prune(
    conn: asyncpg.Connection,
    cutoff: datetime,
    *,
    batch: int = 10_000,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete what count_prunable counts; returns rows deleted per table. `progress(table,
    deleted_so_far)` is called after every batch."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    deleted: dict[str, int] = {}
    for t in TARGETS:
        sql = (
            f"WITH b AS (SELECT t.id FROM {t.table} t WHERE t.id > $2 AND {t.where}"
            f" ORDER BY t.id LIMIT $3),"
            f" gone AS (DELETE FROM {t.table} d USING b WHERE d.id = b.id RETURNING d.id)"
            f" SELECT (SELECT count(*) FROM b) AS picked, (SELECT count(*) FROM gone) AS n,"
            f" (SELECT id FROM b ORDER BY id DESC LIMIT 1) AS last"  # no max() for uuid
        )
        last, total = t.start, 0
        while True:
            row = await conn.fetchrow(sql, cutoff, last, batch)
            assert row is not None  # an aggregate without GROUP BY: always one row
            total += row["n"]
            if row["picked"] == 0:
                break
            last = row["last"]
            if progress is not None:
                progress(t.table, total)
            if row["picked"] < batch:
                break
        deleted[t.table] = total
        log.info("db.pruned", table=t.table, rows=total, cutoff=cutoff.isoformat())
    return deleted
