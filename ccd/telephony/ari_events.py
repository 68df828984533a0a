"""ARI event envelope: cheap routing fields now, the pydantic model on demand.

The reader decodes JSON once and reads only `type` and the channel id it routes by; the full
pydantic validation runs lazily, for the events a consumer actually looks at (most events of a
call - ChannelVarset, ChannelDialplan, ... - are never looked at).
"""

from __future__ import annotations

import json
from typing import Any

from ccd.log import get_logger
from ccd.telephony import ari_models as m

log = get_logger(__name__)

GLOBAL_KEY = ""


class UnknownEvent(m.Event):
    """An event type our schema does not know (newer Asterisk); its fields stay in extras."""


class AriEvent:
    """One event from one node. `key` is the call it belongs to (Local `;2` halves map to `;1`)."""

    __slots__ = ("node", "type", "raw", "key", "_model")

    def __init__(self, node: str, raw: dict[str, Any]) -> None:
        self.node = node
        self.raw = raw
        self.type: str = raw.get("type", "")
        self.key = _route_key(raw)
        self._model: m.Event | None = None

    @property
    def channel_id(self) -> str | None:
        """Id of the channel the event is about (the peer for Dial), `;2` halves kept."""
        ch = self.raw.get("channel") or self.raw.get("peer")
        return ch.get("id") if isinstance(ch, dict) else None

    def model(self) -> m.Event:
        """Validate against the ARI schema (once); raises pydantic.ValidationError."""
        if self._model is None:
            cls = m.EVENT_TYPES.get(self.type, UnknownEvent)
            self._model = cls.model_validate(self.raw)
        return self._model

    def __repr__(self) -> str:
        return f"AriEvent({self.node!r}, {self.type!r}, key={self.key!r})"


def _route_key(raw: dict[str, Any]) -> str:
    ch = raw.get("channel") or raw.get("peer")
    if isinstance(ch, dict):
        cid = ch.get("id")
        if isinstance(cid, str):
            return cid.split(";", 1)[0]
    pb = raw.get("playback") or raw.get("recording")
    if isinstance(pb, dict):
        target: str = pb.get("target_uri", "")
        kind, _, ident = target.partition(":")
        if kind == "channel":
            return ident.split(";", 1)[0]
        if ident:
            return target
    br = raw.get("bridge")
    if isinstance(br, dict):
        bid = br.get("id")
        if isinstance(bid, str):
            return "bridge:" + bid
    return GLOBAL_KEY


def parse_event(node: str, text: str | bytes) -> AriEvent | None:
    """Decode one websocket message; a malformed one is logged and dropped, never fatal."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        log.warning("ari.event.bad_json", node=node, error=str(exc), text=str(text)[:200])
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        log.warning("ari.event.no_type", node=node, text=str(text)[:200])
        return None
    if raw["type"] not in m.EVENT_TYPES:
        log.info("ari.event.unknown_type", node=node, type=raw["type"])
    return AriEvent(node, raw)
