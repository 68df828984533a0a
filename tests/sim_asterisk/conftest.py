"""Fixtures for the Asterisk double's own tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ccd.sim.asterisk import AsteriskDouble, FarEnd

SCALE = 0.02


@pytest.fixture
async def double() -> AsyncIterator[AsteriskDouble]:
    d = AsteriskDouble(time_scale=SCALE, trunk_caps={"city-trunk": 2})
    d.default_far_end = FarEnd.answer()  # numbers a test does not program answer and stay up
    await d.start()
    yield d
    await d.stop()
