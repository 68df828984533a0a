"""AsteriskDouble: an ARI (HTTP + websocket) and AMI (TCP) server on loopback behaving like
Asterisk 22, with programmable far ends and fault injection."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from ccd.log import get_logger
from ccd.sim.asterisk.ami_server import AmiServer
from ccd.sim.asterisk.ari_server import AriServer, Faults, RecordedRequest, asterisk_info
from ccd.sim.asterisk.events import EventHub
from ccd.sim.asterisk.farend import FarEnd
from ccd.sim.asterisk.model import Bridge, Channel
from ccd.sim.asterisk.pbx import DEFAULT_GLOBALS, Pbx
from ccd.sim.asterisk.schema import AriSchema

log = get_logger(__name__)
HOST = "127.0.0.1"


class AsteriskDouble:
    def __init__(self, *, time_scale: float = 1.0, ari_user: str = "ccd",
                 ari_password: str = "ccdsecret", app: str = "ccd",
                 trunk_caps: dict[str, int] | None = None, ami_user: str = "ccd",
                 ami_secret: str = "ccdsecret", node: str = "pbx1",
                 schema_dir: Path | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self.node = node
        self.app = app
        self._generation = 1
        self.hub = EventHub(app)
        self.hub.asterisk_id = self._new_id()
        self.pbx = Pbx(self.hub, time_scale=time_scale, trunk_caps=trunk_caps or {})
        self.faults = Faults()
        self.started_at = datetime.now(UTC)
        self.schema = AriSchema.load(schema_dir)
        self.ari = AriServer(self.pbx, self.hub, self.schema, user=ari_user,
                             password=ari_password, faults=self.faults,
                             info=lambda: asterisk_info(self.hub.asterisk_id, self.started_at))
        self.ami = AmiServer(self.pbx, user=ami_user, secret=ami_secret, time_scale=time_scale)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ami_server: asyncio.Server | None = None
        self.ari_port = 0
        self.ami_port = 0
        self.ami_host = HOST

    def _new_id(self) -> str:
        return f"02:fc:00:00:00:{self._generation:02x}"

    # --------------------------------------------------------------- wiring
    @property
    def ari_url(self) -> str:
        return f"http://{HOST}:{self.ari_port}/ari"

    @property
    def ari_ws_url(self) -> str:
        return f"ws://{HOST}:{self.ari_port}/ari/events"

    @property
    def asterisk_id(self) -> str:
        return self.hub.asterisk_id

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.ari.requests

    @property
    def ami_action_counts(self) -> Counter[str]:
        return self.ami.action_counts

    @property
    def channels(self) -> dict[str, Channel]:
        return self.pbx.channels

    @property
    def bridges(self) -> dict[str, Bridge]:
        """Live bridges (id -> Bridge, with .channels), for assertions."""
        return self.pbx.bridges.by_id

    @property
    def default_far_end(self) -> FarEnd:
        return self.pbx.default_far_end

    @default_far_end.setter
    def default_far_end(self, far_end: FarEnd) -> None:
        self.pbx.default_far_end = far_end

    @property
    def installed_sounds(self) -> set[str]:
        """Sound names GET /sounds lists (stock ones to start with)."""
        return self.pbx.media.installed_sounds

    @property
    def missing_sounds(self) -> set[str]:
        """Sound names that fail at once when played (sound:<name>)."""
        return self.pbx.media.missing_sounds

    @property
    def sound_durations(self) -> dict[str, float]:
        """Nominal seconds per sound name (default 1 s; digits 0.5 s each)."""
        return self.pbx.media.sound_seconds

    async def start(self, *, ari_port: int = 0, ami_port: int = 0) -> None:
        """Listen on loopback; port 0 takes a free one (a restarted process reuses its own)."""
        self._runner = web.AppRunner(self.ari.app(), handle_signals=False)
        await self._runner.setup()
        await self._bind_ari(ari_port)
        await self._bind_ami(ami_port)
        log.info("asterisk_double.started", ari_url=self.ari_url, ami_port=self.ami_port,
                 schema=self.schema.source)

    async def _bind_ari(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, HOST, port, reuse_address=True)
        await self._site.start()
        server = self._site._server  # noqa: SLF001 - the only way to learn the ephemeral port
        assert isinstance(server, asyncio.Server)
        self.ari_port = server.sockets[0].getsockname()[1]

    async def _bind_ami(self, port: int) -> None:
        self._ami_server = await asyncio.start_server(self.ami.serve, HOST, port,
                                                      family=socket.AF_INET, reuse_address=True)
        self.ami_port = self._ami_server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.pbx.shutdown()
        await self.drop_websockets()
        self.ami.drop_all()
        if self._ami_server is not None:
            self._ami_server.close()
            await self._ami_server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ far ends
    def program(self, number: str, far_end: FarEnd) -> None:
        """What the far end dialed as `number` (PJSIP/<n>@trunk, Local/<n>@ctx, PJSIP/<n>) does."""
        self.pbx.far_ends[number] = far_end

    async def inbound_call(self, did: str, caller: str, far_end: FarEnd | None = None, *,
                           caller_name: str = "", trunk: str = "trunk",
                           args: list[str] | None = None, answered: bool = True) -> str:
        """A call from `caller` to `did` reaching the dialplan `Stasis(ccd,inbound,${EXTEN})`.
        Returns the new channel's id. `args` replaces ["inbound", did] for other dialplans."""
        ch = self.pbx.inbound_call(did, caller, far_end or FarEnd.answer(), caller_name=caller_name,
                                   trunk=trunk, args=args, answered=answered)
        return ch.id

    async def hangup_far_end(self, channel_id: str, cause: int = 16) -> None:
        ch = self.pbx.channels.get(channel_id)
        if ch is None:
            raise KeyError(f"no live channel {channel_id!r}")
        self.pbx.hangup_far_end(ch, cause)

    def add_queue(self, name: str, members: list[str], *, entry_context: str | None = None,
                  strategy: str = "ringall") -> None:
        """An app_queue queue (members as in queues.conf: "PJSIP/agent1,0,Agent1"). A Local
        channel into `entry_context` answers and waits in it while its members ring."""
        self.pbx.queues.add(name, members, entry_context, strategy)

    # --------------------------------------------------------------- faults
    async def _flush_websockets(self) -> None:
        for conn in list(self.hub.connections):
            await conn.flush()

    def lose_events(self, lose: bool = True) -> None:
        """A half-open event link: Asterisk still counts the app as connected (Stasis()
        succeeds) but its ARI events never arrive; AMI is unaffected."""
        self.hub.lose_events = lose

    async def drop_websockets(self) -> None:
        """Cut every event websocket without a close frame (clients see 1006)."""
        for conn in list(self.hub.connections):
            conn.drop()
        self.hub.connections.clear()

    async def restart(self, down_for: float = 0.2, refuse_for: float = 0.0) -> None:
        """Asterisk restart (20b, 20c): channels hung up, websockets and AMI dropped, then
        `refuse_for` s of connection refused and `down_for` s of 503 "Asterisk not booted";
        afterwards a new asterisk_id and nothing survives. Seconds are real (not scaled)."""
        self.pbx.shutdown()
        await self._flush_websockets()
        await self._reboot(down_for, refuse_for)

    async def crash(self, down_for: float = 0.0, refuse_for: float = 0.2) -> None:
        """Asterisk killed (kill -9) and started again: not one event, the links drop, and
        the new process has nothing; otherwise as restart()."""
        self.pbx.reset()
        await self._reboot(down_for, refuse_for)

    async def _reboot(self, down_for: float, refuse_for: float) -> None:
        await self.drop_websockets()
        self.ami.drop_all()
        self.faults.booting = True
        if refuse_for > 0:
            await self._close_listeners()
            await asyncio.sleep(refuse_for)
            await self._bind_ari(self.ari_port)
            await self._bind_ami(self.ami_port)
        self._generation += 1
        self.hub.asterisk_id = self._new_id()
        self.pbx.global_vars = dict(DEFAULT_GLOBALS)  # globals come from the config again
        self.started_at = datetime.now(UTC)
        if down_for > 0:
            await asyncio.sleep(down_for)
        self.faults.booting = False
        log.info("asterisk_double.restarted", asterisk_id=self.hub.asterisk_id)

    async def _close_listeners(self) -> None:
        if self._site is not None:
            await self._site.stop()
        if self._ami_server is not None:
            self._ami_server.close()
            await self._ami_server.wait_closed()

    def delay_rest(self, seconds: float) -> None:
        self.faults.delay = seconds

    def slow_rest(self, method: str, path_prefix: str, seconds: float) -> None:
        """Requests of `method` whose path (without /ari) starts with the prefix take this
        much longer, e.g. ("DELETE", "/bridges/", 0.5)."""
        self.faults.slow.append((method, path_prefix, seconds))

    def fail_rest(self, path_prefix: str, status: int = 500, count: int = 1) -> None:
        self.faults.failures.extend([(path_prefix, status)] * count)

    def fail_recordings(self, cause: str | None) -> None:
        """New recordings fail (RecordingFailed with `cause`); None: they work again."""
        self.pbx.recordings.fail_cause = cause

    def ami_half_open(self, half_open: bool = True) -> None:
        self.ami.half_open = half_open
