"""Fixtures for the Asterisk adapter tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.telephony.ari_replay import ReplayAri


@pytest.fixture
async def replay() -> AsyncIterator[ReplayAri]:
    server = ReplayAri()
    await server.start()
    yield server
    await server.stop()
