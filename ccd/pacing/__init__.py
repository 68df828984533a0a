"""Predictive pacing: Erlang formulas and the pacers (pure code, no I/O).

The outbound engine and the simulator both drive a `Pacer` through `PacingSnapshot`s.
"""

from ccd.pacing.base import DROP_AFTER_S, Pacer, PacingSnapshot
from ccd.pacing.registry import PACERS, campaign_pacer, create_pacer

__all__ = ["DROP_AFTER_S", "PACERS", "Pacer", "PacingSnapshot", "campaign_pacer",
           "create_pacer"]
