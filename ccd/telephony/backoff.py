"""Reconnect pacing shared by the ARI and AMI links."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, initial_s: float, max_s: float) -> float:
    """The wait before reconnect `attempt` (0-based): doubling up to max_s, with jitter so
    several ccd processes do not hammer a restarted Asterisk in step."""
    return min(max_s, initial_s * 2.0**attempt) * random.uniform(0.5, 1.0)
