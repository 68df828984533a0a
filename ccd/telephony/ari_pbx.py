"""AriPbx: the Pbx interface over ARI, for one or several Asterisk nodes.

How ARI facts (recorded from Asterisk 22) become domain events:
- originate: POST /channels with channelId = call_id, app=<ari_app>, appArgs=outbound. The call
  is registered before the request because its events can arrive before the response.
  Unanswered calls get only Dial + ChannelHangupRequest + ChannelDestroyed.
- answer: StasisStart with args [outbound] -> CallAnswered. With amd=True the channel is then
  continued into the `ccd-amd` context, whose AMD() re-enters Stasis(ccd,amd,STATUS,CAUSE)
  -> AmdResult. (An app-originated channel stays subscribed while in the dialplan, so a failure
  there still ends with ChannelDestroyed; originating straight into the context would not.)
- fax: with tone_detect=True the call is placed with formats=ulaw (TONE_DETECT stays silent on
  wideband formats) and TONE_DETECT(<fax_tone_hz>) is set at answer -> ToneDetected.
- sending a fax: the caller continues the answered call into a context that runs SendFAX()
  (dialplan/extensions_ccd.conf, [ccd-fax]). The channel stays subscribed there, so res_fax's
  FAXSTATUS, FAXERROR, FAXSTATUSSTRING and FAXPAGES come as ChannelVarset (as AMDSTATUS does,
  14b), before the ChannelDestroyed that ends the call, also when the far end hung up first
  -> CallEnded.fax.
- end: ChannelDestroyed of the `;1` channel for calls we originated; StasisEnd for channels that
  entered from the dialplan or are snoops (they get no ChannelDestroyed). Outcome from causes.py.
- shutdown (20b, 20c): `core restart now` first sends every channel ChannelHangupRequest with
  soft=true, cause 4 (AST_SOFTHANGUP_SHUTDOWN); the ends that follow carry causes of no meaning
  (16 for a bridged channel, 0 otherwise, Dial NOANSWER while ringing) -> CallEnded.shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ccd.config import AsteriskNode
from ccd.log import get_logger
from ccd.telephony import ari_models as m
from ccd.telephony.ari_client import AriClient, OnReconnected
from ccd.telephony.ari_events import AriEvent
from ccd.telephony.ari_rest import AriRest, RestObserver
from ccd.telephony.causes import CallFacts, classify
from ccd.telephony.dispatch import KeyedDispatcher
from ccd.telephony.errors import (
    AriConflict,
    AriNotFound,
    PbxError,
    PbxTimeout,
    PbxUnavailable,
)
from ccd.telephony.pbx import (
    AmdResult,
    BridgeKind,
    CallAnswered,
    CallBridged,
    CallEnded,
    CallEntered,
    CallRinging,
    CallUnbridged,
    DtmfReceived,
    FaxReport,
    HangupReason,
    LinkStatus,
    LiveCall,
    PbxEvent,
    PbxHandler,
    PlaybackFinished,
    RecordingEnded,
    RecordingStarted,
    SpyDirection,
    StoredFile,
    ToneDetected,
)

log = get_logger(__name__)

# StasisStart args[0] contract shared with dialplan/extensions_ccd.conf.
ARG_OUTBOUND = "outbound"
ARG_AMD = "amd"
ARG_SNOOP = "snoop"

# Asterisk-assigned channel ids ("1795333756.44") belong to channels that entered from the
# dialplan; ours are attempt ids.
_UNIQUEID = re.compile(r"^\d+\.\d+$")

# Events a flooded call queue still accepts: they carry the call's life cycle.
_MUST_DELIVER = frozenset(
    {
        "Dial",
        "StasisStart",
        "StasisEnd",
        "ChannelHangupRequest",
        "ChannelDestroyed",
        "ChannelToneDetected",
        "ChannelDtmfReceived",
        "PlaybackFinished",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "RecordingStarted",
        "RecordingFinished",
        "RecordingFailed",
    }
)
# ChannelVarset events a call keeps (the rest, RTP statistics, BRIDGEPEER, STASISSTATUS, ...,
# are dropped at the reader): AMD()'s result and res_fax's set_channel_variables().
_FAX_VARS = frozenset({"FAXSTATUS", "FAXERROR", "FAXSTATUSSTRING", "FAXPAGES"})
_CALL_VARS = frozenset({"AMDSTATUS", *_FAX_VARS})
_RECENTLY_ENDED_MAX = 10_000
_SOFTHANGUP_SHUTDOWN = 4  # the soft hangup flag of `core stop/restart now` (20b, 20c)
# The one router: ARI event type -> AriPbx handler method. Other types (ChannelDialplan,
# ChannelStateChange, ...) are dropped at the reader, before they cost a dispatch.
_ROUTES = {
    "Dial": "_on_dial",
    "StasisStart": "_on_stasis_start",
    "StasisEnd": "_on_stasis_end",
    "ChannelHangupRequest": "_on_hangup_request",
    "ChannelDestroyed": "_on_destroyed",
    "ChannelVarset": "_on_varset",
    "ChannelToneDetected": "_on_tone",
    "ChannelDtmfReceived": "_on_dtmf",
    "PlaybackFinished": "_on_playback_finished",
    "ChannelEnteredBridge": "_on_bridge_change",
    "ChannelLeftBridge": "_on_bridge_change",
    "RecordingStarted": "_on_recording_started",
    "RecordingFinished": "_on_recording_ended",
    "RecordingFailed": "_on_recording_ended",
}
ROUTED_EVENTS = frozenset(_ROUTES)


def wanted(event: AriEvent) -> bool:
    """Cheap reader-side filter: of the many ChannelVarset events only _CALL_VARS matter."""
    return event.type != "ChannelVarset" or event.raw.get("variable") in _CALL_VARS


def _must_deliver(item: _Item) -> bool:
    """What a flooded call queue still accepts: the call's life cycle and its results."""
    if not isinstance(item, AriEvent):
        return True
    return item.type in _MUST_DELIVER or item.type == "ChannelVarset"  # wanted() kept it


@dataclass(eq=False)
class _Call:
    call_id: str
    node: str
    registered_at: float
    from_dialplan: bool = False  # ends with StasisEnd
    amd: bool = False
    tone_detect: bool = False
    saw_events: bool = False
    ringing: bool = False
    answered: bool = False
    answer_reported: bool = False
    dial_status: str | None = None
    cause: int | None = None
    cause_txt: str | None = None  # Asterisk's words for the cause (ChannelDestroyed only)
    sip_code: int | None = None
    amd_status: str | None = None
    fax_vars: dict[str, str] | None = None  # res_fax's FAX* variables, once SendFAX() ended
    tone: str | None = None
    shutdown: bool = False  # Asterisk is stopping: a soft hangup request with cause 4 came


@dataclass(frozen=True, slots=True)
class _Lost:
    """Synthetic: a call Asterisk no longer has after a reconnect."""

    call_id: str
    node: str


@dataclass(frozen=True, slots=True)
class _Recovered:
    """Synthetic: a dialplan channel found in our application at a resync whose StasisStart
    never arrived (sent into a half-open link); its Stasis() arguments come from its
    dialplan location."""

    channel: m.Channel
    node: str
    args: tuple[str, ...]
    found_at: datetime


_Item = AriEvent | _Lost | _Recovered


class AriPbx:
    def __init__(
        self,
        nodes: Sequence[AsteriskNode],
        *,
        rest_timeout_s: float = 10.0,
        heartbeat_s: float = 5.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        amd_context: str = "ccd-amd",
        fax_tone_hz: int = 2100,
        max_pending_per_call: int = 1000,
        rest_observer: RestObserver | None = None,
    ) -> None:
        if not nodes:
            raise ValueError("AriPbx needs at least one Asterisk node")
        self._amd_context = amd_context
        self._fax_tone_hz = fax_tone_hz
        self._handler: PbxHandler | None = None
        self._calls: dict[str, _Call] = {}
        self._recently_ended: OrderedDict[str, None] = OrderedDict()
        self._bridges: dict[str, str] = {}
        self._playbacks: dict[str, tuple[str, str]] = {}
        self._dispatcher: KeyedDispatcher[_Item] = KeyedDispatcher(
            self._handle,
            max_pending=max_pending_per_call,
            must_deliver=_must_deliver,
            name="ari",
        )
        self._clients: dict[str, AriClient] = {}
        for node in nodes:
            self._clients[node.name] = AriClient(
                node,
                on_event=self._on_ari_event,
                on_reconnected=self._resync_callback(node.name),
                rest_timeout_s=rest_timeout_s,
                heartbeat_s=heartbeat_s,
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                rest_observer=rest_observer,
            )
        self._routes = {t: getattr(self, name) for t, name in _ROUTES.items()}

    # --- life cycle ---

    def set_handler(self, handler: PbxHandler) -> None:
        self._handler = handler

    async def start(self) -> None:
        if self._handler is None:
            raise RuntimeError("AriPbx.set_handler() must be called before start()")
        try:
            await asyncio.gather(*(c.start() for c in self._clients.values()))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()))
        await self._dispatcher.close()

    def link_status(self) -> Mapping[str, LinkStatus]:
        return {name: c.status for name, c in self._clients.items()}

    def connects(self) -> Mapping[str, int]:
        """Successful event-link connects per node since start (reconnects = connects - 1)."""
        return {name: c.connects for name, c in self._clients.items()}

    def pending_events(self) -> int:
        """Events received and not yet handled, over all nodes."""
        return self._dispatcher.pending()

    async def drain(self) -> None:
        """Wait until every received event has been handled (tests, shutdown)."""
        await self._dispatcher.drain()

    # --- commands ---

    async def originate(
        self,
        call_id: str,
        endpoint: str,
        *,
        caller_id: str,
        timeout_s: int,
        variables: Mapping[str, str] | None = None,
        amd: bool = False,
        tone_detect: bool = False,
        node: str | None = None,
    ) -> str:
        call = self._calls.get(call_id)
        if call is not None:  # a retry goes where the first try went
            client = self._clients[call.node]
        elif node is not None:
            client = self._client(node)
        else:
            client = self._least_loaded()
        if call is None:
            call = _Call(
                call_id,
                client.node,
                asyncio.get_running_loop().time(),
                amd=amd,
                tone_detect=tone_detect,
            )
            self._calls[call_id] = call
        self._recently_ended.pop(call_id, None)
        try:
            await client.rest.originate(
                endpoint,
                channel_id=call_id,
                app=client.app,
                app_args=(ARG_OUTBOUND,),
                caller_id=caller_id,
                timeout_s=timeout_s,
                formats="ulaw" if tone_detect else None,
                variables=variables,
            )
        except AriConflict:
            # A retry of a request that got through. Confirm by id: Asterisk 22 has been seen
            # answering 409 for an unrelated failure on a reused keep-alive connection.
            if not await self._channel_exists(client, call_id) and not call.saw_events:
                self._forget(call_id)
                raise
            log.info("originate.already_sent", call_id=call_id, node=client.node)
        except PbxTimeout:
            log.warning("originate.timeout", call_id=call_id, node=client.node)
            raise  # it may have gone through: keep the call registered, a retry is idempotent
        except PbxError:
            if not call.saw_events:
                self._forget(call_id)
            raise
        log.info(
            "originate.sent",
            call_id=call_id,
            node=client.node,
            endpoint=endpoint,
            amd=amd,
            tone_detect=tone_detect,
        )
        return client.node

    async def answer(self, call_id: str) -> None:
        await self._rest_for_call(call_id).answer(call_id)

    async def hangup(self, call_id: str, reason: HangupReason = "normal") -> None:
        try:
            await self._rest_for_call(call_id).hangup(call_id, reason)
        except AriNotFound:
            log.debug("hangup.already_gone", call_id=call_id)

    async def ring(self, call_id: str, on: bool = True) -> None:
        await self._rest_for_call(call_id).ring(call_id, on)

    async def play(
        self, call_id: str, media: Sequence[str], *, playback_id: str | None = None
    ) -> str:
        if not media:
            raise ValueError("play needs at least one media URI")
        pid = playback_id or uuid.uuid4().hex
        rest = self._rest_for_call(call_id)
        self._playbacks[pid] = (rest.node, call_id)
        try:
            await rest.play(call_id, media, pid)
        except PbxError:
            self._playbacks.pop(pid, None)
            raise
        return pid

    async def stop_playback(self, playback_id: str) -> None:
        node, _ = self._playbacks.get(playback_id, (None, None))
        clients = [self._clients[node]] if node else list(self._clients.values())
        for client in clients:
            try:
                await client.rest.stop_playback(playback_id)
                return
            except AriNotFound:
                continue
        log.debug("playback.already_finished", playback_id=playback_id)

    async def set_moh(self, call_id: str, on: bool, *, moh_class: str | None = None) -> None:
        await self._rest_for_call(call_id).moh(call_id, on, moh_class)

    async def create_bridge(
        self, bridge_id: str, kind: BridgeKind = BridgeKind.MIXING, *, node: str | None = None
    ) -> None:
        client = self._client(node) if node is not None else self._least_loaded()
        try:
            await client.rest.create_bridge(bridge_id, BridgeKind(kind).value)
        except AriConflict:
            log.debug("bridge.exists", bridge_id=bridge_id, node=client.node)
        self._bridges[bridge_id] = client.node

    async def add_to_bridge(
        self,
        bridge_id: str,
        call_ids: Sequence[str],
        *,
        role: str | None = None,
        mute: bool = False,
    ) -> None:
        await self._rest_for_bridge(bridge_id).add_channels(
            bridge_id, call_ids, role=role, mute=mute or None
        )

    async def remove_from_bridge(self, bridge_id: str, call_ids: Sequence[str]) -> None:
        await self._rest_for_bridge(bridge_id).remove_channels(bridge_id, call_ids)

    async def destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self._rest_for_bridge(bridge_id).destroy_bridge(bridge_id)
        except AriNotFound:
            log.debug("bridge.already_gone", bridge_id=bridge_id)
        self._bridges.pop(bridge_id, None)

    async def set_bridge_moh(
        self, bridge_id: str, on: bool, *, moh_class: str | None = None
    ) -> None:
        await self._rest_for_bridge(bridge_id).bridge_moh(bridge_id, on, moh_class)

    async def record_bridge(self, bridge_id: str, name: str, *, fmt: str = "wav") -> None:
        await self._rest_for_bridge(bridge_id).record_bridge(bridge_id, name, fmt=fmt)

    async def record_call(self, call_id: str, name: str, *, fmt: str = "wav") -> None:
        await self._rest_for_call(call_id).record_channel(call_id, name, fmt=fmt)

    async def pause_recording(self, name: str, paused: bool, *, node: str) -> None:
        await self._client(node).rest.pause_recording(name, paused)

    async def recording_live(self, name: str, *, node: str) -> bool:
        try:
            live = await self._client(node).rest.get_live_recording(name)
        except AriNotFound:
            return False
        return live.state in ("queued", "recording", "paused")

    @contextlib.asynccontextmanager
    async def stored_file(self, name: str, *, node: str) -> AsyncIterator[StoredFile]:
        async with self._client(node).rest.stored_file(name) as resp:
            yield StoredFile(
                resp.headers.get("Content-Type", "application/octet-stream"),
                resp.content_length,
                resp.content.iter_chunked(64 * 1024),
            )

    async def delete_stored(self, name: str, *, node: str) -> bool:
        try:
            await self._client(node).rest.delete_stored_recording(name)
        except AriNotFound:
            return False
        return True

    async def snoop(
        self,
        call_id: str,
        snoop_id: str,
        *,
        spy: SpyDirection = "both",
        whisper: SpyDirection = "none",
    ) -> None:
        rest = self._rest_for_call(call_id)
        call = _Call(
            snoop_id,
            rest.node,
            asyncio.get_running_loop().time(),
            from_dialplan=True,
            answered=True,
        )
        self._calls[snoop_id] = call
        try:
            await rest.snoop(
                call_id,
                snoop_id,
                app=self._clients[rest.node].app,
                app_args=(ARG_SNOOP, call_id),
                spy=spy,
                whisper=whisper,
            )
        except PbxError:
            if not call.saw_events:
                self._forget(snoop_id)
            raise

    async def continue_in_dialplan(
        self,
        call_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
    ) -> None:
        await self._rest_for_call(call_id).continue_in_dialplan(
            call_id, context=context, extension=extension, priority=priority
        )

    async def redirect(self, call_id: str, endpoint: str) -> None:
        await self._rest_for_call(call_id).redirect(call_id, endpoint)

    async def set_var(self, call_id: str, name: str, value: str) -> None:
        await self._rest_for_call(call_id).set_var(call_id, name, value)

    async def get_var(self, call_id: str, name: str) -> str | None:
        try:
            return await self._rest_for_call(call_id).get_var(call_id, name)
        except AriNotFound as exc:
            if "variable" in exc.asterisk_message.lower() and "channel" not in (
                exc.asterisk_message.lower()
            ):
                return None
            raise

    async def send_dtmf(self, call_id: str, digits: str) -> None:
        await self._rest_for_call(call_id).send_dtmf(call_id, digits)

    async def live_calls(self) -> list[LiveCall]:
        out: list[LiveCall] = []
        for client in self._clients.values():
            if client.status is not LinkStatus.CONNECTED:
                continue
            for ch in await client.app_channels():
                if ";" not in ch.id:
                    out.append(LiveCall(ch.id, client.node, ch.state, ch.name))
        return out

    # --- helpers ---

    def _client(self, node: str) -> AriClient:
        client = self._clients.get(node)
        if client is None:
            raise PbxError(f"no Asterisk node named {node!r} (known: {', '.join(self._clients)})")
        return client

    def _least_loaded(self) -> AriClient:
        connected = [c for c in self._clients.values() if c.status is LinkStatus.CONNECTED]
        if not connected:
            raise PbxUnavailable("no Asterisk node is connected")
        load = {c.node: 0 for c in connected}
        for call in self._calls.values():
            if call.node in load:
                load[call.node] += 1
        return min(connected, key=lambda c: load[c.node])

    def _rest_for_call(self, call_id: str) -> AriRest:
        call = self._calls.get(call_id)
        if call is not None:
            return self._clients[call.node].rest
        if len(self._clients) == 1:
            return next(iter(self._clients.values())).rest
        raise PbxError(f"call {call_id} is not known on any node")

    def _rest_for_bridge(self, bridge_id: str) -> AriRest:
        node = self._bridges.get(bridge_id)
        if node is not None:
            return self._clients[node].rest
        if len(self._clients) == 1:
            return next(iter(self._clients.values())).rest
        raise PbxError(f"bridge {bridge_id} is not known on any node")

    async def _channel_exists(self, client: AriClient, channel_id: str) -> bool:
        try:
            await client.rest.get_channel(channel_id)
            return True
        except AriNotFound:
            return False

    def _forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    async def _emit(self, event: PbxEvent) -> None:
        assert self._handler is not None
        await self._handler.on_pbx_event(event)

    # --- events in ---

    def _on_ari_event(self, event: AriEvent) -> None:
        if event.type in ROUTED_EVENTS and wanted(event):
            self._dispatcher.submit(event.key, event)

    async def _handle(self, item: _Item) -> None:
        if isinstance(item, _Lost):
            call = self._calls.get(item.call_id)
            if call is not None:
                await self._end(call, datetime.now(UTC), lost=True)
            return
        if isinstance(item, _Recovered):
            if item.channel.id in self._calls:
                await self._emit(_entered(item.channel, item.node, item.found_at, item.args,
                                          recovered=True))  # fmt: skip
            return
        route = self._routes.get(item.type)
        if route is None:
            return
        call = self._calls.get(item.key)
        if call is not None:
            call.saw_events = True
        await route(item, call)

    @staticmethod
    def _at(event: AriEvent) -> datetime:
        return event.model().timestamp

    async def _on_dial(self, ev: AriEvent, call: _Call | None) -> None:
        status = ev.raw.get("dialstatus") or ""
        if call is None or not status or ev.channel_id != call.call_id:
            return
        call.dial_status = status
        if status == "RINGING" and not call.ringing:
            call.ringing = True
            await self._emit(CallRinging(call.call_id, call.node, self._at(ev)))
        elif status == "ANSWER":
            call.answered = True

    async def _on_stasis_start(self, ev: AriEvent, call: _Call | None) -> None:
        model = ev.model()
        assert isinstance(model, m.StasisStart)
        args = tuple(model.args)
        kind = args[0] if args else ""
        if call is None:
            # A dialplan channel may come back after continue (a second Stasis()): a new call.
            if ev.channel_id != ev.key:
                return
            self._recently_ended.pop(ev.key, None)
            call = _Call(
                ev.key,
                ev.node,
                asyncio.get_running_loop().time(),
                from_dialplan=kind not in (ARG_OUTBOUND, ARG_AMD),
                saw_events=True,
            )
            self._calls[ev.key] = call
        if kind == ARG_OUTBOUND:
            call.answered = True
            if not call.answer_reported:
                call.answer_reported = True
                await self._setup_answered(call)
                await self._emit(CallAnswered(call.call_id, call.node, model.timestamp))
        elif kind == ARG_AMD:
            status = args[1] if len(args) > 1 else ""
            cause = args[2] if len(args) > 2 else ""
            call.amd_status = status
            await self._emit(AmdResult(call.call_id, call.node, model.timestamp, status, cause))
        elif kind != ARG_SNOOP:
            await self._emit(_entered(model.channel, call.node, model.timestamp, args))

    async def _setup_answered(self, call: _Call) -> None:
        """Fax detection and AMD hand-off, before the engine hears of the answer."""
        rest = self._clients[call.node].rest
        try:
            if call.tone_detect:
                await rest.set_var(call.call_id, f"TONE_DETECT({self._fax_tone_hz})", "")
            if call.amd:
                await rest.continue_in_dialplan(
                    call.call_id, context=self._amd_context, extension="s", priority=1
                )
        except PbxError as exc:  # the call may be gone already; its end event follows
            log.warning("call.answer_setup_failed", call_id=call.call_id, error=str(exc))

    async def _on_stasis_end(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or not call.from_dialplan or ev.channel_id != call.call_id:
            return
        call.answered = call.answered or ev.raw["channel"].get("state") == "Up"
        await self._end(call, self._at(ev))

    async def _on_hangup_request(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or ev.channel_id != call.call_id:
            return
        cause = ev.raw.get("cause")
        if ev.raw.get("soft"):  # an AST_SOFTHANGUP_* flag, not a Q.850 cause
            if cause == _SOFTHANGUP_SHUTDOWN and not call.shutdown:
                call.shutdown = True
                log.info("call.asterisk_shutdown", call_id=call.call_id, node=call.node)
            return
        if isinstance(cause, int):
            call.cause = cause
        tech = ev.raw.get("tech_cause")
        if isinstance(tech, int):
            call.sip_code = tech

    async def _on_destroyed(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or ev.channel_id != call.call_id:
            return
        cause = ev.raw.get("cause")
        if isinstance(cause, int):
            call.cause = cause
            text = ev.raw.get("cause_txt")
            call.cause_txt = text if isinstance(text, str) and text else None
        tech = ev.raw.get("tech_cause")
        if isinstance(tech, int):
            call.sip_code = tech
        await self._end(call, self._at(ev))

    async def _on_varset(self, ev: AriEvent, call: _Call | None) -> None:
        # AMDSTATUS arrives while the channel runs AMD() outside Stasis (14b); keep it in case
        # the call ends there and never re-enters Stasis with the result.
        if call is not None and ev.channel_id == call.call_id:
            name, value = ev.raw.get("variable"), ev.raw.get("value")
            if name == "AMDSTATUS":
                call.amd_status = value or None
            elif name in _FAX_VARS and isinstance(value, str):
                if call.fax_vars is None:
                    call.fax_vars = {}
                call.fax_vars[name] = value

    async def _on_tone(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or call.tone is not None:
            return  # one report per call; the detector fires once per burst
        call.tone = "fax"
        await self._emit(ToneDetected(call.call_id, call.node, self._at(ev), "fax"))

    async def _on_dtmf(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or ev.channel_id != call.call_id:
            return
        model = ev.model()
        assert isinstance(model, m.ChannelDtmfReceived)
        await self._emit(
            DtmfReceived(call.call_id, call.node, model.timestamp, model.digit, model.duration_ms)
        )

    async def _on_playback_finished(self, ev: AriEvent, call: _Call | None) -> None:
        model = ev.model()
        assert isinstance(model, m.PlaybackFinished)
        pid = model.playback.id
        node, call_id = self._playbacks.pop(pid, (ev.node, ev.key))
        if not model.playback.target_uri.startswith("channel:"):
            return
        await self._emit(
            PlaybackFinished(pid, call_id, node, model.timestamp, ok=model.playback.state == "done")
        )

    async def _on_recording_started(self, ev: AriEvent, call: _Call | None) -> None:
        rec = ev.raw.get("recording") or {}
        if not str(rec.get("target_uri", "")).startswith("channel:"):
            return
        model = ev.model()
        assert isinstance(model, m.RecordingStarted)
        await self._emit(RecordingStarted(ev.key, ev.node, model.timestamp, model.recording.name))

    async def _on_recording_ended(self, ev: AriEvent, call: _Call | None) -> None:
        # Keyed by the recorded channel, which may have ended already (a snoop's recording
        # finishes as its channel goes): reported whether or not the call is still known.
        rec = ev.raw.get("recording") or {}
        if not str(rec.get("target_uri", "")).startswith("channel:"):
            return
        model = ev.model()
        assert isinstance(model, m.RecordingFinished | m.RecordingFailed)
        r = model.recording
        await self._emit(
            RecordingEnded(ev.key, ev.node, model.timestamp, r.name,
                           ok=ev.type == "RecordingFinished", cause=r.cause)
        )  # fmt: skip

    async def _on_bridge_change(self, ev: AriEvent, call: _Call | None) -> None:
        if call is None or ev.channel_id != call.call_id:
            return
        bridge_id = ev.raw["bridge"]["id"]
        cls = CallBridged if ev.type == "ChannelEnteredBridge" else CallUnbridged
        await self._emit(cls(call.call_id, call.node, self._at(ev), bridge_id))

    async def _end(self, call: _Call, at: datetime, *, lost: bool = False) -> None:
        if self._calls.pop(call.call_id, None) is None:
            return
        self._recently_ended[call.call_id] = None
        while len(self._recently_ended) > _RECENTLY_ENDED_MAX:
            self._recently_ended.popitem(last=False)
        facts = CallFacts(
            cause=call.cause,
            sip_code=call.sip_code,
            dial_status=call.dial_status,
            answered=call.answered,
            amd_status=call.amd_status,
            tone=call.tone,
        )
        outcome, rule = classify(facts)
        log.info(
            "call.ended",
            call_id=call.call_id,
            node=call.node,
            outcome=outcome,
            rule=rule,
            cause=call.cause,
            sip_code=call.sip_code,
            dial_status=call.dial_status,
            lost=lost,
            shutdown=call.shutdown,
        )
        await self._emit(
            CallEnded(
                call.call_id,
                call.node,
                at,
                outcome,
                call.answered,
                call.cause,
                call.sip_code,
                call.dial_status,
                lost=lost,
                cause_txt=call.cause_txt,
                shutdown=call.shutdown,
                fax=_fax_report(call.fax_vars),
            )
        )

    # --- reconciliation ---

    def _resync_callback(self, node: str) -> OnReconnected:
        async def resync(channels: list[m.Channel], bridges: list[m.Bridge]) -> None:
            await self._resync(node, channels, bridges)

        return resync

    async def _resync(self, node: str, channels: list[m.Channel], bridges: list[m.Bridge]) -> None:
        cutoff = self._clients[node].resync_started_at
        live = {ch.id: ch for ch in channels if ";" not in ch.id}
        lost = [
            c.call_id
            for c in self._calls.values()
            if c.node == node and c.call_id not in live and c.registered_at < cutoff
        ]
        for call_id in lost:
            self._dispatcher.submit(call_id, _Lost(call_id, node))
        now = asyncio.get_running_loop().time()
        found_at = datetime.now(UTC)
        for ch in live.values():
            if ch.id not in self._calls and ch.id not in self._recently_ended:
                from_dialplan = bool(_UNIQUEID.match(ch.id))
                self._calls[ch.id] = _Call(
                    ch.id, node, now, from_dialplan=from_dialplan, answered=ch.state == "Up"
                )
                # Channels ccd placed itself carry ids of ours, never Asterisk's uniqueid.
                args = _stasis_args(ch, self._clients[node].app) if from_dialplan else None
                if args is not None:
                    self._dispatcher.submit(ch.id, _Recovered(ch, node, args, found_at))
        for bridge in bridges:
            self._bridges.setdefault(bridge.id, node)
        log.info("pbx.resync", node=node, live=len(live), lost=len(lost))
        assert self._handler is not None
        await self._handler.on_pbx_reconnected(node, frozenset(live))


def _fax_report(variables: Mapping[str, str] | None) -> FaxReport | None:
    """FAXSTATUS is set whenever res_fax ran (also on an error before the transfer began)."""
    if not variables or not variables.get("FAXSTATUS"):
        return None
    pages = variables.get("FAXPAGES", "")
    return FaxReport(
        variables["FAXSTATUS"],
        error=variables.get("FAXERROR") or None,
        detail=variables.get("FAXSTATUSSTRING") or None,
        pages=int(pages) if pages.isdigit() else None,
    )


def _stasis_args(ch: m.Channel, app: str) -> tuple[str, ...] | None:
    """The arguments of the Stasis(app,...) the channel sits in, from its dialplan location
    (app_data "ccd,inbound,5550013", transcript 13); None when it is not there."""
    dp = ch.dialplan
    if dp is None or dp.app_name.lower() != "stasis":
        return None
    parts = dp.app_data.split(",")
    return tuple(parts[1:]) if parts[0] == app else None


def _entered(
    ch: m.Channel, node: str, at: datetime, args: tuple[str, ...], *, recovered: bool = False
) -> CallEntered:
    return CallEntered(
        ch.id, node, at, args,
        caller_number=ch.caller.number, caller_name=ch.caller.name,
        did=ch.dialplan.exten if ch.dialplan else "", channel_name=ch.name, recovered=recovered,
    )  # fmt: skip
