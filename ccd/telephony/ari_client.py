"""ARI client of one Asterisk node: REST plus the event websocket under a link supervisor.

The supervisor follows one rule: every I/O failure of the event link goes to `_link_lost`,
which starts exactly one reconnect task. Reconnect = tear down the reader, back off (exponential
with jitter), open the websocket, resync from GET /channels and /bridges, then hand the lists to
`on_reconnected` (Asterisk does not replay events missed while disconnected). The websocket is
opened before the resync so no event falls between the two.

Asterisk restart, as recorded: the socket drops without a close frame (1006), connects are
refused while it is down, and REST and the upgrade answer 503 "Asterisk not booted" while it
boots; all of these just mean "try again". Bad credentials (401/403) fail `start()` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from ccd.config import AsteriskNode
from ccd.log import get_logger
from ccd.telephony import ari_models as m
from ccd.telephony.ari_events import AriEvent, parse_event
from ccd.telephony.ari_rest import AriRest, RestObserver
from ccd.telephony.backoff import backoff_delay
from ccd.telephony.errors import AriAuthError, PbxError, PbxUnavailable, ari_error
from ccd.telephony.pbx import LinkStatus

log = get_logger(__name__)

OnEvent = Callable[[AriEvent], None]
OnReconnected = Callable[[list[m.Channel], list[m.Bridge]], Awaitable[None]]


class AriClient:
    def __init__(
        self,
        node: AsteriskNode,
        *,
        on_event: OnEvent,
        on_reconnected: OnReconnected,
        rest_timeout_s: float = 10.0,
        heartbeat_s: float = 5.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        rest_observer: RestObserver | None = None,
    ) -> None:
        self.node = node.name
        self._rest_observer = rest_observer
        self.app = node.ari_app
        self._base_url = str(node.ari_url).rstrip("/")
        self._auth_header = aiohttp.encode_basic_auth(node.ari_user, node.ari_password)
        self._on_event = on_event
        self._on_reconnected = on_reconnected
        self._rest_timeout_s = rest_timeout_s
        self._heartbeat_s = heartbeat_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self.status = LinkStatus.DISCONNECTED
        self._session: aiohttp.ClientSession | None = None
        self._rest: AriRest | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self.connects = 0
        # Loop time just before the last resync's GET /channels: calls registered after it
        # may be missing from that list without being lost.
        self.resync_started_at = 0.0

    @property
    def rest(self) -> AriRest:
        if self._rest is None:
            raise PbxUnavailable("ARI client not started", node=self.node)
        return self._rest

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self._base_url.startswith("https") else "ws"
        return f"{scheme}://{self._base_url.split('://', 1)[1]}/events"

    async def start(self) -> None:
        """Connect once. Auth errors raise (naming the node); other failures are logged and
        left to the reconnect loop, so ccd starts while a node is still down."""
        # The session timeout bounds the websocket handshake only (not the open socket);
        # REST calls pass their own.
        self._session = aiohttp.ClientSession(
            headers={"Authorization": self._auth_header},
            timeout=aiohttp.ClientTimeout(total=self._rest_timeout_s),
        )
        self._rest = AriRest(
            self.node, self._base_url, self._session, timeout_s=self._rest_timeout_s,
            observe=self._rest_observer,
        )  # fmt: skip
        self.status = LinkStatus.CONNECTING
        try:
            await self._connect()
        except AriAuthError:
            await self.close()
            raise
        except PbxError as exc:
            log.warning("ari.connect_failed", node=self.node, error=str(exc))
            self._link_lost(exc)
        except BaseException:  # e.g. answers that are not ARI: do not leak the session
            await self.close()
            raise

    async def close(self) -> None:
        self.status = LinkStatus.CLOSED
        current = asyncio.current_task()
        for task in (self._reconnect_task, self._reader):
            if task is not None and task is not current:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def app_channels(self) -> list[m.Channel]:
        """The node's channels subscribed to our app. GET /channels lists every call on the
        node; GET /applications/<app> names ours (Local `;2` halves included)."""
        channels = await self.rest.list_channels()
        mine = set((await self.rest.get_application(self.app)).channel_ids)
        return [c for c in channels if c.id in mine]

    async def _connect(self) -> None:
        assert self._session is not None
        try:
            ws = await self._session.ws_connect(
                self.ws_url,
                params={"app": self.app, "subscribeAll": "false"},
                heartbeat=self._heartbeat_s,
                timeout=aiohttp.ClientWSTimeout(ws_close=self._rest_timeout_s),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise ari_error(
                exc.status,
                exc.message or "websocket upgrade refused",
                node=self.node,
                method="GET",
                path="/events",
            ) from exc
        except (aiohttp.ClientConnectionError, OSError, TimeoutError) as exc:
            raise PbxUnavailable(f"websocket connect: {exc}", node=self.node) from exc
        try:
            self.resync_started_at = asyncio.get_running_loop().time()
            info = await self.rest.asterisk_info()
            channels = await self.app_channels()
            bridges = await self.rest.list_bridges()
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        self.status = LinkStatus.CONNECTED
        self.connects += 1
        self._reader = asyncio.get_running_loop().create_task(
            self._read(ws), name=f"ari-reader:{self.node}"
        )
        log.info(
            "ari.connected",
            node=self.node,
            version=info.system.version if info.system else None,
            started=info.status.startup_time.isoformat() if info.status else None,
            channels=len(channels),
            bridges=len(bridges),
        )
        try:
            await self._on_reconnected(channels, bridges)
        except Exception:
            log.exception("ari.resync_handler_failed", node=self.node)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        error: BaseException | None = None
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    event = parse_event(self.node, msg.data)
                    if event is not None:
                        self._on_event(event)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    error = ws.exception()
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in on_event must not kill the link silently
            log.exception("ari.reader_failed", node=self.node)
            error = exc
        self._link_lost(error or ConnectionResetError(f"websocket closed ({ws.close_code})"))

    def _link_lost(self, error: BaseException) -> None:
        """The one place an event-link failure goes: start exactly one reconnect task."""
        if self.status in (LinkStatus.CLOSED, LinkStatus.RECONNECTING):
            return
        log.warning("ari.link_lost", node=self.node, error=str(error), status=self.status)
        self.status = LinkStatus.RECONNECTING
        self._reconnect_task = asyncio.get_running_loop().create_task(
            self._reconnect(), name=f"ari-reconnect:{self.node}"
        )

    async def _reconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()
        attempt = 0
        while self.status is LinkStatus.RECONNECTING:
            await asyncio.sleep(
                backoff_delay(attempt, self._backoff_initial_s, self._backoff_max_s)
            )
            attempt += 1
            try:
                await self._connect()
                return
            except asyncio.CancelledError:
                raise
            except AriAuthError as exc:
                # Credentials changed under a running ccd: keep trying, loudly.
                log.error("ari.reconnect_auth_failed", node=self.node, error=str(exc))
                attempt = max(attempt, 30)
            except Exception as exc:
                log.info("ari.reconnect_failed", node=self.node, attempt=attempt, error=str(exc))
