"""Stasis bridges (09, 10, 12, 19): joining, leaving, BRIDGEPEER variables, destruction."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ccd.sim.asterisk.errors import AriError
from ccd.sim.asterisk.model import Bridge, Channel

if TYPE_CHECKING:
    from ccd.sim.asterisk.pbx import Pbx

BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single",
                "sdp_label"}


class Bridges:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.by_id: dict[str, Bridge] = {}

    def create(self, bridge_id: str | None, type_: str | None, name: str) -> Bridge:
        types = set((type_ or "mixing").split(","))
        if not types <= BRIDGE_TYPES:
            raise AriError(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
        bid = bridge_id or str(uuid.uuid4())
        if bid in self.by_id:
            raise AriError(409, f"Bridge with id '{bid}' already exists")
        bridge = Bridge(bid, "holding" if "holding" in types else "mixing", name or "")
        self.by_id[bid] = bridge
        return bridge

    def get(self, bridge_id: str) -> Bridge:
        bridge = self.by_id.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        return bridge

    def add(self, bridge: Bridge, ids: list[str]) -> None:
        chans = []
        for cid in ids:
            ch = self.pbx.channels.get(cid)
            if ch is None:
                raise AriError(400, "Channel not found")
            if not ch.in_stasis:
                raise AriError(422, "Channel not in Stasis application")
            chans.append(ch)
        for ch in chans:
            if ch.bridge is bridge:
                continue
            if ch.bridge is not None:
                self.leave(ch, hangup=False)
            bridge.channels.append(ch)
            ch.bridge = bridge
            self.pbx.hub.emit("ChannelEnteredBridge", bridge=bridge, channel=ch)
        if bridge.bridge_type == "mixing" and len(bridge.channels) == 2:
            self._peer_vars(*bridge.channels)

    def _peer_vars(self, a: Channel, b: Channel) -> None:
        # 09/19/19b: BRIDGEPEER both ways, BRIDGEPVTCALLID towards a PJSIP party.
        for me, other in ((a, b), (b, a)):
            if "BRIDGEPEER" not in me.bridge_vars:
                me.bridge_vars.append("BRIDGEPEER")
            self.pbx.varset(me, "BRIDGEPEER", other.name)
            if other.tech == "PJSIP" and other.protocol_id:
                if "BRIDGEPVTCALLID" not in me.bridge_vars:
                    me.bridge_vars.append("BRIDGEPVTCALLID")
                self.pbx.varset(me, "BRIDGEPVTCALLID", other.protocol_id)
        if a.caller[1] or b.caller[1]:
            for me in (b, a):
                self.pbx.hub.emit("ChannelConnectedLine", channel=me)

    def peer_of(self, ch: Channel) -> Channel | None:
        if ch.bridge is None or len(ch.bridge.channels) != 2:
            return None
        return next(c for c in ch.bridge.channels if c is not ch)

    def _clear_vars(self, ch: Channel) -> None:
        for name in ch.bridge_vars:
            self.pbx.varset(ch, name, "")
        ch.bridge_vars.clear()

    def leave(self, ch: Channel, hangup: bool) -> None:
        bridge = ch.bridge
        assert bridge is not None
        self._clear_vars(ch)
        bridge.channels.remove(ch)
        ch.bridge = None
        if hangup:
            bridge.hangup_left = True
        self.pbx.hub.emit("ChannelLeftBridge", bridge=bridge, channel=ch)

    def remove(self, bridge: Bridge, ids: list[str]) -> None:
        chans = []
        for cid in ids:
            ch = self.pbx.channels.get(cid)
            if ch is None:
                raise AriError(400, "Channel not found")
            if ch.bridge is not bridge:
                raise AriError(422, "Channel not in this bridge")
            chans.append(ch)
        for ch in chans:
            self.leave(ch, hangup=False)

    def destroy(self, bridge: Bridge) -> None:
        self.pbx.recordings.target_gone(f"bridge:{bridge.id}")
        # 09/10: BRIDGEPEER cleared on everyone first, then each ChannelLeftBridge.
        members = list(bridge.channels)
        for ch in members:
            self._clear_vars(ch)
        for ch in reversed(members):
            bridge.channels.remove(ch)
            ch.bridge = None
            self.pbx.hub.emit("ChannelLeftBridge", bridge=bridge, channel=ch)
        self.pbx.media.stop_target(bridge.playbacks)
        del self.by_id[bridge.id]
        if bridge.explicit_subscription or bridge.hangup_left:  # fact 5
            self.pbx.hub.emit("BridgeDestroyed", bridge=bridge, to_app=True)
