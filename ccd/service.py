"""The daemon as deployed: one composition root for `ccd run`, `ccd demo` and the tests.

    service = await Service.create(settings, db_url, EngineConfig(...), flows=load)
    await service.start()          # AMI, engine (ARI, reconciliation, campaigns), HTTP API
    ...                            # serve: signals (ccd run), simulated agents (ccd demo)
    await service.stop()

Everything is built here and nowhere else: the engine and inbound on one Pbx, the console
parts (live hub, spy, messages, auth), the engine's observers (live feed and metrics,
isolated from call handling), readiness, /metrics, systemd, the mailing engine and its
channels (email over the settings' SMTP relays, SMS over the links of `ccd smsc add`).
`ccd demo` and the end-to-end tests differ from `ccd run` only in the settings they pass
(database, nodes, HTTP port, engine timings), never in wiring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from ccd.api.agent_api import AgentApi
from ccd.api.console import ConsoleParts
from ccd.api.inbox_api import InboxApi
from ccd.api.live import QueueLive
from ccd.api.mailings_api import MailingsApi
from ccd.api.ops import add_ops_routes
from ccd.api.server import EngineFeed, InboundFeed, build_app, start_site
from ccd.api.unsubscribe import UnsubscribeApi
from ccd.config import Settings
from ccd.dialer.daemon import Engine, EngineConfig
from ccd.dialer.disabled import DisabledAgents
from ccd.dialer.reconcile import InstanceLock
from ccd.inbound.service import InboundService, attach_to_engine
from ccd.log import get_logger
from ccd.messaging.channel import Channel
from ccd.messaging.email import EmailChannel
from ccd.messaging.fax import FaxChannel
from ccd.messaging.inbox import SmsInbox
from ccd.messaging.sender import MailingService
from ccd.messaging.sms.channel import REPLY_REF, SmsChannel
from ccd.ops.metrics import Metrics
from ccd.ops.readiness import Readiness
from ccd.ops.systemd import ServiceSignals, SystemdNotifier
from ccd.store import inbox as inbox_store
from ccd.store import mailings as mailings_store
from ccd.store import migrate
from ccd.store import smsc as smsc_store
from ccd.store.db import create_pool
from ccd.telephony.ami import AmiClient
from ccd.telephony.ari_pbx import AriPbx

if TYPE_CHECKING:
    from ccd.inbound.flow import Flow

log = get_logger(__name__)

FlowLoader = Callable[[], Mapping[str, "Flow"]]


class Service:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        engine: Engine,
        inbound: InboundService,
        amis: dict[str, AmiClient],
        parts: ConsoleParts,
        feed: EngineFeed,
        metrics: Metrics,
        readiness: Readiness,
        app: web.Application,
        flows: FlowLoader,
        mailing: MailingService,
        sms: SmsChannel | None,
        inbox: SmsInbox,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.engine = engine
        self.inbound = inbound
        self.amis = amis
        self.parts = parts
        self.feed = feed
        self.metrics = metrics
        self.readiness = readiness
        self.app = app
        self._flows = flows
        self.mailing = mailing
        self.sms = sms  # None when no SMSC link is configured
        self.inbox = inbox
        self.systemd = SystemdNotifier()
        self._site: web.AppRunner | None = None
        self._lifecycle: asyncio.Task[None] | None = None
        self._disabled = DisabledAgents(pool, engine.agents)
        parts.sessions.subscribe(self._disabled.wake)
        self._disabled_task: asyncio.Task[None] | None = None
        self.http_port = settings.http.port

    @classmethod
    async def create(
        cls, settings: Settings, db_url: str, config: EngineConfig, *, flows: FlowLoader
    ) -> Service:
        """Connect the pool and wire every part; nothing talks to Asterisk yet."""
        pool = await create_pool(
            db_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        try:
            metrics = Metrics()
            metrics.watch_pool(pool)
            pbx = AriPbx(settings.nodes, rest_observer=metrics.observe_rest)
            engine = Engine(pool, db_url, pbx, config=config)
            inbound = attach_to_engine(engine, flows())
            # AMI is a second link per node (readiness, and actions ARI lacks); no events.
            amis = {node.name: AmiClient(node, events=False) for node in settings.nodes}
            sms = await _sms_channel(settings, pool)
            if sms is not None:
                metrics.watch_smsc(sms.link_states, sms.binds)
            metrics.watch_event_queue(pbx.pending_events)
            metrics.watch_campaigns(lambda: len(engine.supervisor.runners))
            metrics.watch_links(
                lambda: {
                    **{(node, "ari"): n for node, n in pbx.connects().items()},
                    **{(node, "ami"): ami.connects for node, ami in amis.items()},
                }
            )
            # The console parts need the engine (its router, agents, Pbx); the engine's
            # notifications then go to the console hub and the metrics.
            parts = await ConsoleParts.create(
                pool, engine, secure_cookie=settings.http.secure_cookies
            )
            inbound.acd.set_listener(
                lambda name, waiting, oldest: parts.hub.queue_changed(
                    QueueLive(name, waiting, oldest)
                )
            )
            inbound.calls.set_listener(InboundFeed(parts.hub))
            inbox = SmsInbox(pool, sms.send_text if sms else None, parts.hub.push_to_inbox)
            if sms is not None:
                sms.set_inbound(inbox.accept, hold=inbox.hold)
                sms.set_replies(inbox.reply_report)
            feed = EngineFeed(pool, parts.hub, metrics)
            engine.set_notifier(feed, on_failure=metrics.observer_failed)
            readiness = Readiness(
                pool=pool,
                head_revision=migrate.head_revision(db_url),
                nodes=[n.name for n in settings.nodes],
                links=lambda: {
                    node: {"ari": ari, "ami": amis[node].status}
                    for node, ari in engine.pbx.link_status().items()
                },
                smsc=sms.link_states if sms is not None else dict,
            )
            app = build_app(
                pool,
                [
                    AgentApi(engine, inbound).add_routes,
                    *parts.route_adders(),
                    partial(add_ops_routes, metrics=metrics, readiness=readiness),
                    UnsubscribeApi(pool).add_routes,
                    MailingsApi(pool).add_routes,
                    InboxApi(pool, inbox, parts.hub).add_routes,
                ],
                allowed_origins=settings.http.allowed_origins,
                trusted_proxies=settings.http.trusted_proxies,
            )
            mailing = _mailing_service(settings, pool, db_url, engine, sms)
        except BaseException:
            await pool.close()
            raise
        return cls(
            settings, pool, engine, inbound, amis, parts, feed, metrics, readiness, app, flows,
            mailing, sms, inbox,
        )  # fmt: skip

    async def start(self) -> None:
        """systemd's watchdog pings from now on (READY=1 once /readyz would pass, STATUS=
        lines after that; all no-ops without NOTIFY_SOCKET); then AMI and the engine
        (unreachable nodes are left to their reconnect loops; refused AMI credentials raise
        AmiAuthError), then the HTTP API."""
        self._lifecycle = asyncio.create_task(
            self.systemd.run(self.readiness.ready, self.metrics.status_line)
        )
        await asyncio.gather(*(ami.start() for ami in self.amis.values()), self.engine.start())
        self._disabled_task = asyncio.create_task(self._disabled.run())
        http = self.settings.http
        self._site = await start_site(self.app, http.host, http.port)
        self.http_port = _bound_port(self._site, http.port)
        # Unsubscribe links point at the public URL, else at the API as it is bound.
        self.mailing.public_url = (
            self.settings.mailing.public_url or f"http://{http.host}:{self.http_port}"
        )
        if self.sms is not None:
            awaiting = await mailings_store.awaiting_reports(self.pool, "sms")
            resumed = self.sms.resume((r["id"], r["provider_id"], r["sent_at"]) for r in awaiting)
            replies = await inbox_store.replies_awaiting_reports(self.pool)
            resumed += self.sms.resume(((r["id"], r["provider_id"], r["sent_at"]) for r in replies),
                                       prefix=REPLY_REF)  # fmt: skip
            held = await inbox_store.held_parts(self.pool)
            self.sms.restore_parts(held)
            log.info("sms.channel_ready", links=sorted(self.sms.gateway.links),
                     awaiting_receipts=resumed, held_parts=len(held))  # fmt: skip
        await self.mailing.start()  # starts the channels: the SMSC links bind on their own
        await self.inbox.start()

    async def serve(self) -> None:
        """Until SIGTERM or SIGINT; SIGHUP reloads the IVR flows."""
        signals = ServiceSignals(
            self.systemd, on_reload=self._reload, status=self.metrics.status_line
        )
        signals.install()
        try:
            await signals.wait_for_stop()
        finally:
            signals.remove()

    async def _reload(self) -> None:
        self.inbound.replace_flows(self._flows())

    async def stop(self) -> None:
        """HTTP first (no new requests), then inbound, the engine's graceful stop, AMI."""
        log.info("daemon.stopping")
        try:
            if self._site is not None:
                await self._site.cleanup()
            await self.mailing.stop()  # closes the channels, the SMSC links with them
            await self.inbox.close()
            if self._disabled_task is not None:
                self._disabled_task.cancel()
                await asyncio.gather(self._disabled_task, return_exceptions=True)
            await self.inbound.close()
            await self.engine.stop()
        finally:
            if self._lifecycle is not None:
                self._lifecycle.cancel()
            await self.feed.close()
            for ami in self.amis.values():
                await ami.close()
            await self.pool.close()


async def _sms_channel(settings: Settings, pool: asyncpg.Pool) -> SmsChannel | None:
    """The SMS channel over the links of `ccd smsc add`, or None when there are none."""
    try:
        async with pool.acquire() as conn:
            links = await smsc_store.list_links(conn)
    except asyncpg.UndefinedTableError:  # a database before 0010: /readyz says to upgrade
        log.warning("sms.links_unreadable", hint="ccd db upgrade")
        return None
    if not links:
        return None
    cfg = settings.mailing.sms
    return SmsChannel(links, validity=timedelta(hours=cfg.validity_hours),
                      retry_after_s=cfg.retry_after_s)  # fmt: skip


def _mailing_service(
    settings: Settings, pool: asyncpg.Pool, db_url: str, engine: Engine,
    sms: SmsChannel | None,
) -> MailingService:  # fmt: skip
    cfg = settings.mailing
    channels: dict[str, Channel] = {}
    if cfg.smtp:
        channels["email"] = EmailChannel(cfg.smtp, cfg.from_address)
    if cfg.fax is not None:
        # Faxes are calls: the engine's Pbx places them on the trunks its campaigns share,
        # and its router hands their events to the channel.
        fax = FaxChannel(cfg.fax, engine.pbx, engine.trunks, pool)
        engine.router.add_handler(fax.owns, fax)
        channels["fax"] = fax
    if sms is not None:
        channels["sms"] = sms
    return MailingService(
        pool, db_url, channels, instance_id=engine.instance.instance_id,
        alive=partial(InstanceLock.owner_alive, pool), public_url=cfg.public_url or "",
        cap_days=cfg.cap_days, batch=cfg.batch,
    )  # fmt: skip


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    """The port the API listens on (port 0 in the settings asks the kernel for a free one)."""
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if isinstance(server, asyncio.Server) and server.sockets:
            return int(server.sockets[0].getsockname()[1])
    return asked
