"""Call-center simulation: one outbound campaign's day under any Pacer (pure, no I/O)."""

from ccd.sim.callcenter.engine import Bucket, PacerContractError, SimResult, simulate
from ccd.sim.callcenter.scenario import Scenario, Shift

__all__ = ["Bucket", "PacerContractError", "Scenario", "Shift", "SimResult", "simulate"]
