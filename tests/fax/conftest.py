"""Fax tests run the engine (its Pbx, router and trunks) against the in-process double."""

from tests.dialer.conftest import double, make_engine

__all__ = ["double", "make_engine"]
