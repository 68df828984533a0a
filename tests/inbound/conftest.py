"""Inbound test fixtures."""

from __future__ import annotations

import pytest

from ccd.log import configure_logging


@pytest.fixture(autouse=True)
def _log_to_this_tests_stderr() -> None:
    """A CLI test elsewhere configures structlog onto CliRunner's stream, which is closed once
    the command returns; any later log line would raise. Point logging at this test's stderr."""
    configure_logging("info", "console")
