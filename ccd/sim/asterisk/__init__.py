"""A protocol double of Asterisk 22 (ARI REST + websocket, AMI) for tests and `ccd demo`."""

from ccd.sim.asterisk.double import AsteriskDouble
from ccd.sim.asterisk.farend import FarEnd

__all__ = ["AsteriskDouble", "FarEnd"]
