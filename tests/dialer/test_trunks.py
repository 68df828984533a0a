"""Trunk choice: longest route prefix, then position; channel caps; a pinned trunk."""

from __future__ import annotations

import pytest

from ccd.dialer.trunks import NoRoute, Trunk, TrunkTable


def _table() -> TrunkTable:
    trunks = [
        Trunk(1, "any", "PJSIP/{number}@any", 2, None),
        Trunk(2, "moscow-a", "PJSIP/{number}@msk-a", 1, None),
        Trunk(3, "moscow-b", "PJSIP/{number}@msk-b", 1, None),
        Trunk(4, "tollfree", "DAHDI/g1/{number}", 5, "pbx2"),
    ]
    routes = [("+", 0, 1), ("+7495", 1, 3), ("+7495", 0, 2), ("+7800", 0, 4)]
    return TrunkTable(trunks, routes)


def test_longest_prefix_then_position_then_caps() -> None:
    t = _table()
    first = t.acquire("+74951234567")
    assert (first.name, first.endpoint("+74951234567")) == ("moscow-a", "PJSIP/+74951234567@msk-a")
    assert t.acquire("+74951234568").name == "moscow-b"  # moscow-a is full
    assert t.acquire("+74951234569").name == "any"  # both Moscow trunks full: the '+' route
    assert t.acquire("+12025550100").name == "any"
    with pytest.raises(NoRoute, match=r"\+74951234570"):
        t.acquire("+74951234570")
    t.release(first.id)
    assert t.acquire("+74951234570").name == "moscow-a"
    assert t.free_total() == 5  # only the toll-free trunk has room


def test_pinned_trunk_and_reload_keeps_counts() -> None:
    t = _table()
    assert t.acquire("+74951234567", pinned=4).name == "tollfree"
    assert t.free_total(pinned=4) == 4
    with pytest.raises(NoRoute):
        t.acquire("+74951234567", pinned=99)
    t.reload_from(_table())
    assert t.free_total(pinned=4) == 4  # the live call still counts after a reload
