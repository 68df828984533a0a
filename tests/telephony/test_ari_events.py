"""Event envelope and models against every event recorded from Asterisk 22."""

from __future__ import annotations

import json

import pytest

from ccd.telephony import ari_models as m
from ccd.telephony.ari_events import GLOBAL_KEY, UnknownEvent, parse_event
from tests.asterisk22 import TRANSCRIPTS


def _all_events() -> list[dict[str, object]]:
    out = []
    for path in sorted(TRANSCRIPTS.glob("*.json")):
        for step in json.loads(path.read_text())["steps"]:
            if step["dir"] == "event":
                out.append(step["event"])
    return out


def test_every_recorded_event_validates_into_its_model() -> None:
    events = _all_events()
    assert len(events) > 300
    for raw in events:
        ev = parse_event("pbx1", json.dumps(raw))
        assert ev is not None
        model = ev.model()
        assert type(model) is m.EVENT_TYPES[raw["type"]]
        assert model.timestamp.tzinfo is not None


def test_schema_covers_every_event_type() -> None:
    assert {"StasisStart", "ChannelDestroyed", "Dial", "ChannelToneDetected"} <= set(m.EVENT_TYPES)
    assert len(m.EVENT_TYPES) >= 45


def test_local_half_routes_to_its_call() -> None:
    ev = parse_event(
        "pbx1",
        json.dumps(
            {
                "type": "ChannelVarset",
                "timestamp": "2026-11-22T07:47:41.000+0000",
                "application": "ccd",
                "variable": "X",
                "value": "1",
                "channel": {"id": "att-7;2"},
            }
        ),
    )
    assert ev is not None and ev.key == "att-7" and ev.channel_id == "att-7;2"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"type": "Dial", "peer": {"id": "a1"}, "dialstatus": ""}, "a1"),
        ({"type": "PlaybackFinished", "playback": {"target_uri": "channel:a2"}}, "a2"),
        ({"type": "PlaybackFinished", "playback": {"target_uri": "bridge:b1"}}, "bridge:b1"),
        ({"type": "BridgeDestroyed", "bridge": {"id": "b2"}}, "bridge:b2"),
        ({"type": "ApplicationReplaced"}, GLOBAL_KEY),
    ],
)
def test_route_keys(raw: dict[str, object], key: str) -> None:
    ev = parse_event("pbx1", json.dumps(raw))
    assert ev is not None and ev.key == key


def test_unknown_event_type_is_passed_on_as_generic() -> None:
    ev = parse_event(
        "pbx2",
        '{"type": "ChannelFutureThing", "timestamp": "2026-11-22T07:47:41.000+0000",'
        ' "application": "ccd", "extra": 1}',
    )
    assert ev is not None and ev.node == "pbx2"
    model = ev.model()
    assert isinstance(model, UnknownEvent) and model.model_extra == {"extra": 1}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"no": "type"}'])
def test_malformed_messages_are_dropped(text: str) -> None:
    assert parse_event("pbx1", text) is None
