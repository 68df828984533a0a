"""The aiohttp application and its runner; route sets plug in as `add_routes(app)` callables.

    app = build_app(pool, [AgentApi(engine).add_routes, other_api.add_routes, ...])

build_app installs what every route set relies on: JSON errors ({"error": ..., "field": ...}
for anything raised as an HTTPException with a JSON body, {"error": "internal error"} for a
crash) and the bearer-token middleware of ccd.api.auth (agent tokens and user sessions).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from ccd.api.auth import Handler, auth_middleware
from ccd.api.live import CallLive, LiveHub
from ccd.api.remote import Network, forwarded_remote
from ccd.dialer.agents import AgentSession
from ccd.dialer.calls import LiveAttempt
from ccd.inbound.agent_calls import AgentCall
from ccd.log import get_logger
from ccd.ops.metrics import Metrics

log = get_logger(__name__)

RouteAdder = Callable[[web.Application], None]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json" or exc.status < 400:
            raise
        # aiohttp's own 404/405/413...: the same JSON shape as every other error.
        return web.json_response({"error": exc.reason, "field": None}, status=exc.status)
    except Exception:
        log.exception("api.crash", path=request.path, method=request.method)
        return web.json_response({"error": "internal error"}, status=500)


def build_app(
    pool: asyncpg.Pool,
    route_adders: Sequence[RouteAdder] = (),
    *,
    allowed_origins: Sequence[str] = (),
    trusted_proxies: Sequence[Network] = (),
) -> web.Application:
    app = web.Application(
        middlewares=[
            json_errors,
            forwarded_remote(trusted_proxies),
            auth_middleware(pool, allowed_origins),
        ]
    )
    for add in route_adders:
        add(app)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port; the caller awaits runner.cleanup() on shutdown."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("api.listening", host=host, port=port)
    return runner


class EngineFeed:
    """The engine's notifications (ccd.dialer.notify.EngineNotifier) into the live console
    hub and the Prometheus metrics. Campaign counters are recounted from SQL at most once a
    second per campaign, so a fast campaign does not turn every call end into a query."""

    def __init__(self, pool: asyncpg.Pool, hub: LiveHub, metrics: Metrics) -> None:
        self._pool = pool
        self._hub = hub
        self._metrics = metrics
        self._recount: dict[int, asyncio.Task[None]] = {}
        self._agent_states: dict[int, str] = {}
        self._live_count: Counter[str] = Counter()

    def agent_changed(self, session: AgentSession, at: datetime) -> None:
        self._agent_states[session.agent_id] = session.state.value
        self._metrics.set_agents(Counter(self._agent_states.values()))
        self._hub.agent_changed(
            session.agent_id, state=session.state.value, since=at, reason=session.reason,
            login=session.login, name=session.name, campaign_ids=sorted(session.campaign_ids),
        )  # fmt: skip

    def call_originated(self, call: LiveAttempt) -> None:
        self._metrics.call_originated(call.campaign.name)
        self._live_count[call.campaign.name] += 1
        self._metrics.set_live_calls(call.campaign.name, self._live_count[call.campaign.name])

    def call_answered(self, call: LiveAttempt) -> None:
        self._metrics.call_answered(call.campaign.name)
        self._hub.call_started(_call_live(call))

    def call_bridged(self, call: LiveAttempt) -> None:
        self._hub.call_started(_call_live(call))

    def call_dropped(self, call: LiveAttempt) -> None:
        self._metrics.call_dropped(call.campaign.name)

    def call_ended(self, call: LiveAttempt, outcome: str) -> None:
        self._metrics.call_ended(call.campaign.name, outcome)
        if self._live_count[call.campaign.name] > 0:
            self._live_count[call.campaign.name] -= 1
        self._metrics.set_live_calls(call.campaign.name, self._live_count[call.campaign.name])
        self._hub.call_ended(call.attempt_id)
        cid = call.campaign.id
        if cid not in self._recount:
            self._recount[cid] = asyncio.create_task(self._recount_later(cid))

    def dial_level(self, campaign_id: int, campaign: str, level: float) -> None:
        self._metrics.set_dial_level(campaign, level)
        self._hub.dial_level_changed(campaign_id, level)

    async def close(self) -> None:
        """Before the pool closes: recounts still waiting are dropped."""
        tasks = list(self._recount.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _recount_later(self, campaign_id: int) -> None:
        try:
            await asyncio.sleep(1.0)
            await self._hub.refresh_counters(self._pool, campaign_id)
            counters = self._hub.counters(campaign_id)
            if counters is not None:
                self._metrics.set_abandon_rate(counters.name, counters.abandon_today)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("api.recount_failed", campaign_id=campaign_id, error=str(exc))
        finally:
            self._recount.pop(campaign_id, None)


class InboundFeed:
    """Inbound calls agents answer, as call rows of the live hub (direction "inbound", keyed
    by the caller's channel id): the wallboard shows them, the agent's console refreshes, and
    a listen on such a call ends when the caller hangs up (SpyService)."""

    def __init__(self, hub: LiveHub) -> None:
        self._hub = hub

    def agent_call_started(self, call: AgentCall) -> None:
        c = call.contact
        self._hub.call_started(
            CallLive(call.call_id, call.agent_id, call.campaign_id, c.lead_id if c else None,
                     call.caller, call.answered_at, "inbound", c.name if c else "")
        )  # fmt: skip

    def agent_call_ended(self, call: AgentCall) -> None:
        self._hub.call_ended(call.call_id)


def _call_live(call: LiveAttempt) -> CallLive:
    return CallLive(
        call.attempt_id, call.agent_id if call.bridged_mono is not None else None,
        call.campaign.id, call.lead.lead_id, call.lead.phone,
        call.answered_at or datetime.now(UTC), "outbound", call.lead.name,
    )  # fmt: skip
