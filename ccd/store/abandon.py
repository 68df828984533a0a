"""A campaign's abandon counts over a span of time, as regulators count them.

As docs/reporting.md defines them: answered = a person picked up (a contact: the call
reached an agent, was dropped, or the person hung up before an agent came; here also a call
still on with its agent); machines and fax tones are not answers. Dropped = answered with no
agent within the 2 s limit. Attempts count by when they were placed (created_at).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

_COUNTS = """
SELECT count(*) FILTER (WHERE bridged_at IS NOT NULL OR outcome IN ('ANSWERED', 'DROPPED')
                         OR disposition = 'DROPPED') AS answered,
       count(*) FILTER (WHERE outcome = 'DROPPED' OR disposition = 'DROPPED') AS dropped
FROM attempts
WHERE campaign_id = $1 AND created_at >= $2 AND ($3::timestamptz IS NULL OR created_at < $3)
"""


@dataclass(frozen=True, slots=True)
class AbandonCounts:
    answered: int
    dropped: int

    @property
    def rate(self) -> float | None:
        """dropped / answered; None before anything was answered."""
        return self.dropped / self.answered if self.answered else None


async def abandon_counts(
    conn: asyncpg.Connection | asyncpg.Pool,
    campaign_id: int,
    since: datetime,
    until: datetime | None = None,
) -> AbandonCounts:
    """Answers and drops of the campaign's attempts placed in [since, until)."""
    row = await conn.fetchrow(_COUNTS, campaign_id, since, until)
    assert row is not None  # an aggregate without GROUP BY: always one row
    return AbandonCounts(row["answered"], row["dropped"])
