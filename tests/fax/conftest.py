"""Fax tests run the engine (its Pbx, router and trunks) against the in-process double, and
the CLI in-process."""

from tests.cli.conftest import ccd
from tests.dialer.conftest import double, make_engine

__all__ = ["ccd", "double", "make_engine"]
