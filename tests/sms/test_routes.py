"""Links by number prefix, longest first, then the catch-all links; others never."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ccd.messaging.sms.routes import candidates
from ccd.messaging.sms.settings import LinkSettings


def _link(name: str, *prefixes: str) -> LinkSettings:
    return LinkSettings(name=name, host="h", port=1, system_id="s", password="p",
                        prefixes=prefixes)  # fmt: skip


def test_longest_prefix_first_then_catch_all_and_equals_share_the_load() -> None:
    links = [_link("any"), _link("mts", "+7916", "+7915"), _link("mts2", "+7916"),
             _link("beeline", "+7903"), _link("ru", "+7")]  # fmt: skip
    assert [s.name for s in candidates("+79161234567", links)] == ["mts", "mts2", "ru", "any"]
    assert [s.name for s in candidates("+79161234567", links, turn=1)] == [
        "mts2", "mts", "ru", "any"]  # fmt: skip
    assert [s.name for s in candidates("+79151234567", links, turn=1)] == ["mts", "ru", "any"]
    assert [s.name for s in candidates("79031234567", links)] == ["beeline", "ru", "any"]
    assert [s.name for s in candidates("+4915112345", links)] == ["any"]
    assert candidates("+4915112345", links[1:]) == []


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ValidationError, match="prefix '79x'"):
        _link("x", "79x")
    with pytest.raises(ValidationError, match="password"):
        LinkSettings(name="x", host="h", port=1, system_id="s", password="123456789")
    with pytest.raises(ValidationError, match="tps"):
        LinkSettings(name="x", host="h", port=1, system_id="s", password="p", tps=0)
