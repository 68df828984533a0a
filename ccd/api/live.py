"""The live state hub: what supervisors' wallboards and agents' consoles see, pushed on change.

The hub keeps the current picture (agents, live calls, inbound queues, campaign counters) in
memory, loaded once from PostgreSQL at start and kept current by the engine and the inbound
side calling its publish methods (plain synchronous calls; they never block on a slow client).
Every subscriber gets a snapshot first and then deltas, in order, through its own bounded
queue; a subscriber that falls behind is dropped (its socket closes with 1013 and the console
reconnects for a fresh snapshot), so one stalled browser never holds the engine up.

Two WebSockets serve it: GET /api/live for supervisors and admins (everything; managers get
the SMS inbox's news only), and
GET /api/agent/ws for an agent (their own state, their own call, their pop-up messages).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web

from ccd.api.auth import principal, request_token, require_role
from ccd.api.session_watch import SessionWatch
from ccd.log import get_logger

log = get_logger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and gets a fresh snapshot


@dataclass(frozen=True, slots=True)
class AgentLive:
    agent_id: int
    login: str
    name: str
    state: str  # an AgentState value
    since: datetime  # the console shows time in state from this
    reason: str | None = None  # pause reason
    campaign_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CallLive:
    call_id: str  # attempt id (outbound) or channel id (inbound)
    agent_id: int | None
    campaign_id: int | None
    lead_id: int | None
    phone: str
    started_at: datetime  # answered (outbound) or entered (inbound)
    direction: str = "outbound"
    lead_name: str = ""


@dataclass(frozen=True, slots=True)
class QueueLive:
    name: str
    waiting: int
    oldest_since: datetime | None  # the longest waiting caller entered the queue at


@dataclass(frozen=True, slots=True)
class CampaignCounters:
    campaign_id: int
    name: str
    dial_level: float  # calls placed per free agent right now (the pacer's ratio)
    attempts_today: int
    answers_today: int
    drops_today: int
    abandon_today: float  # drops / answers, 0..1
    abandon_30d: float


def to_json(obj: Any) -> Any:
    """Dataclasses, datetimes and containers as JSON-ready values (datetimes ISO 8601)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [to_json(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


@dataclass(eq=False)
class Subscription:
    """One connected client: its queue, and the agent it is (None = a supervisor, or a
    manager when `inbox_only`: they hear of the SMS inbox and nothing else)."""

    agent_id: int | None
    queue: asyncio.Queue[dict[str, Any] | None] = field(repr=False)
    dropped: bool = False
    inbox_only: bool = False

    async def next(self) -> dict[str, Any] | None:
        """The next message, or None when the hub dropped this subscriber."""
        return await self.queue.get()


class LiveHub:
    def __init__(self, *, queue_size: int = 500) -> None:
        self._queue_size = queue_size
        self._agents: dict[int, AgentLive] = {}
        self._calls: dict[str, CallLive] = {}
        self._queues: dict[str, QueueLive] = {}
        self._counters: dict[int, CampaignCounters] = {}
        self._subs: set[Subscription] = set()
        self._call_ended_listeners: list[Callable[[CallLive], None]] = []

    # --- loading ---

    async def load(self, pool: asyncpg.Pool) -> None:
        """The picture after a (re)start, from the database; the engine's publishes follow."""
        for r in await pool.fetch(_AGENTS_SQL):
            self._agents[r["id"]] = AgentLive(
                r["id"], r["login"], r["name"], r["state"], r["state_since"], r["state_reason"],
                tuple(r["cids"]),
            )  # fmt: skip
        for r in await pool.fetch(_LIVE_CALLS_SQL):
            self._calls[r["call_id"]] = CallLive(
                r["call_id"], r["agent_id"], r["campaign_id"], r["lead_id"], r["phone"],
                r["started_at"], r["direction"], r["lead_name"],
            )  # fmt: skip
        for r in await pool.fetch(_QUEUES_SQL):
            self._queues[r["queue"]] = QueueLive(r["queue"], r["waiting"], r["oldest"])
        for c in await load_counters(pool):
            self._counters[c.campaign_id] = c
        log.info("live.loaded", agents=len(self._agents), calls=len(self._calls))

    async def refresh_counters(self, pool: asyncpg.Pool, campaign_id: int) -> None:
        """Recount one campaign from the attempts table and publish it (after an attempt ends)."""
        old = self._counters.get(campaign_id)
        for c in await load_counters(pool, campaign_id):
            if old is not None:
                c = dataclasses.replace(c, dial_level=old.dial_level)
            self.counters_changed(c)

    # --- what the engine and the inbound side call ---

    def agent_changed(
        self,
        agent_id: int,
        *,
        state: str,
        since: datetime,
        reason: str | None = None,
        login: str | None = None,
        name: str | None = None,
        campaign_ids: Iterable[int] | None = None,
    ) -> None:
        old = self._agents.get(agent_id)
        agent = AgentLive(
            agent_id,
            login if login is not None else (old.login if old else str(agent_id)),
            name if name is not None else (old.name if old else ""),
            state,
            since,
            reason,
            tuple(campaign_ids) if campaign_ids is not None else (old.campaign_ids if old else ()),
        )
        self._agents[agent_id] = agent
        msg = {"type": "agent", "agent": to_json(agent)}
        self._send(msg, agent_id=agent_id)

    def call_started(self, call: CallLive) -> None:
        self._calls[call.call_id] = call
        self._send({"type": "call_started", "call": to_json(call)}, agent_id=call.agent_id)

    def call_ended(self, call_id: str) -> None:
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        self._send({"type": "call_ended", "call_id": call_id}, agent_id=call.agent_id)
        for listener in self._call_ended_listeners:
            listener(call)

    def queue_changed(self, queue: QueueLive) -> None:
        if queue.waiting == 0:
            self._queues.pop(queue.name, None)
        else:
            self._queues[queue.name] = queue
        self._send({"type": "queue", "queue": to_json(queue)})

    def counters_changed(self, counters: CampaignCounters) -> None:
        self._counters[counters.campaign_id] = counters
        self._send({"type": "counters", "counters": to_json(counters)})

    def dial_level_changed(self, campaign_id: int, dial_level: float) -> None:
        """The pacer's current calls-per-free-agent ratio for a campaign the hub counts."""
        old = self._counters.get(campaign_id)
        if old is not None and old.dial_level != dial_level:
            self.counters_changed(dataclasses.replace(old, dial_level=round(dial_level, 2)))

    # --- used by the API's own services ---

    def push_to_agent(self, agent_id: int, msg: dict[str, Any]) -> bool:
        """Send to the agent's own consoles only; False when none is connected."""
        subs = [s for s in self._subs if s.agent_id == agent_id]
        for s in subs:
            self._put(s, msg)
        return bool(subs)

    def push_to_supervisors(self, msg: dict[str, Any]) -> None:
        for s in [s for s in self._subs if s.agent_id is None and not s.inbox_only]:
            self._put(s, msg)

    def push_to_inbox(self, msg: dict[str, Any]) -> None:
        """SMS inbox news (database rows as they are: made JSON here): to supervisors and
        managers."""
        msg = to_json(msg)
        for s in [s for s in self._subs if s.agent_id is None]:
            self._put(s, msg)

    def agent_online(self, agent_id: int) -> bool:
        return any(s.agent_id == agent_id for s in self._subs)

    def on_call_ended(self, listener: Callable[[CallLive], None]) -> None:
        self._call_ended_listeners.append(listener)

    def counters(self, campaign_id: int) -> CampaignCounters | None:
        return self._counters.get(campaign_id)

    def agent(self, agent_id: int) -> AgentLive | None:
        return self._agents.get(agent_id)

    def call_of_agent(self, agent_id: int) -> CallLive | None:
        return next((c for c in self._calls.values() if c.agent_id == agent_id), None)

    def call(self, call_id: str) -> CallLive | None:
        return self._calls.get(call_id)

    # --- subscribers ---

    def subscribe(self, agent_id: int | None = None, *, inbox_only: bool = False) -> Subscription:
        """A new subscriber; its first message is the snapshot (supervisor or agent view; a
        manager's is empty: the inbox itself comes from GET /api/inbox)."""
        sub = Subscription(agent_id, asyncio.Queue(self._queue_size), inbox_only=inbox_only)
        first = {"type": "snapshot", "now": datetime.now(UTC).isoformat()} if inbox_only \
            else self.snapshot(agent_id)  # fmt: skip
        sub.queue.put_nowait(first)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def snapshot(self, agent_id: int | None = None) -> dict[str, Any]:
        """The whole picture (supervisors), or one agent's own view."""
        if agent_id is not None:
            call = self.call_of_agent(agent_id)
            return {
                "type": "snapshot",
                "agent": to_json(self._agents.get(agent_id)),
                "call": to_json(call),
            }
        return {
            "type": "snapshot",
            "now": datetime.now(UTC).isoformat(),
            "agents": to_json(sorted(self._agents.values(), key=lambda a: a.agent_id)),
            "calls": to_json(sorted(self._calls.values(), key=lambda c: c.started_at)),
            "queues": to_json(sorted(self._queues.values(), key=lambda q: q.name)),
            "counters": to_json(sorted(self._counters.values(), key=lambda c: c.campaign_id)),
        }

    def _send(self, msg: dict[str, Any], *, agent_id: int | None = None) -> None:
        """To every supervisor, and to the agent's own consoles when the change is theirs."""
        for s in list(self._subs):
            if s.inbox_only:
                continue
            if s.agent_id is None or (agent_id is not None and s.agent_id == agent_id):
                self._put(s, msg)

    def _put(self, sub: Subscription, msg: dict[str, Any]) -> None:
        if sub.dropped:
            return
        if sub.queue.full():
            # Too slow: make room for the end marker and stop feeding it.
            sub.dropped = True
            self._subs.discard(sub)
            while not sub.queue.empty():
                sub.queue.get_nowait()
            sub.queue.put_nowait(None)
            log.warning("live.subscriber_dropped", agent_id=sub.agent_id)
            return
        sub.queue.put_nowait(msg)


_AGENTS_SQL = """
SELECT a.id, a.login, a.name, a.state, a.state_since, a.state_reason,
       coalesce(array_agg(ca.campaign_id ORDER BY ca.campaign_id)
                FILTER (WHERE ca.campaign_id IS NOT NULL), '{}') AS cids
FROM agents a LEFT JOIN campaign_agents ca ON ca.agent_id = a.id
GROUP BY a.id
"""

_LIVE_CALLS_SQL = """
SELECT t.id::text AS call_id, t.agent_id, t.campaign_id, t.lead_id, t.phone,
       coalesce(t.answered_at, t.created_at) AS started_at, 'outbound' AS direction,
       coalesce(l.name, '') AS lead_name
FROM attempts t LEFT JOIN leads l ON l.id = t.lead_id
WHERE t.ended_at IS NULL AND t.state IN ('answered', 'bridged')
UNION ALL
SELECT i.id, i.agent_id, i.campaign_id, NULL, i.caller, coalesce(i.answered_at, i.started_at),
       'inbound', ''
FROM inbound_calls i
WHERE i.ended_at IS NULL AND i.answered_at IS NOT NULL
"""

_QUEUES_SQL = """
SELECT queue, count(*)::int AS waiting, min(queued_at) AS oldest
FROM inbound_calls
WHERE queued_at IS NOT NULL AND dequeued_at IS NULL AND ended_at IS NULL
GROUP BY queue
"""

# Abandon rate = calls a person answered that no agent took (DROPPED) / calls a person answered.
_COUNTERS_SQL = """
SELECT c.id, c.name, c.dial_ratio::float8 AS dial_level,
       count(t.id) FILTER (WHERE t.created_at >= date_trunc('day', now()))::int AS attempts_today,
       count(t.id) FILTER (WHERE t.created_at >= date_trunc('day', now())
                             AND t.answered_at IS NOT NULL)::int AS answers_today,
       count(t.id) FILTER (WHERE t.created_at >= date_trunc('day', now())
                             AND t.outcome = 'DROPPED')::int AS drops_today,
       count(t.id) FILTER (WHERE t.answered_at IS NOT NULL)::int AS answers_30d,
       count(t.id) FILTER (WHERE t.outcome = 'DROPPED')::int AS drops_30d
FROM campaigns c
LEFT JOIN attempts t ON t.campaign_id = c.id AND t.created_at >= now() - interval '30 days'
WHERE ($1::int IS NULL OR c.id = $1) AND ($1::int IS NOT NULL OR c.status <> 'completed')
GROUP BY c.id
ORDER BY c.id
"""


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def load_counters(
    pool: asyncpg.Pool, campaign_id: int | None = None
) -> list[CampaignCounters]:
    return [
        CampaignCounters(
            r["id"],
            r["name"],
            r["dial_level"],
            r["attempts_today"],
            r["answers_today"],
            r["drops_today"],
            _ratio(r["drops_today"], r["answers_today"]),
            _ratio(r["drops_30d"], r["answers_30d"]),
        )  # fmt: skip
        for r in await pool.fetch(_COUNTERS_SQL, campaign_id)
    ]


class LiveApi:
    """The two WebSocket endpoints over a hub. `on_agent_connect` runs after an agent's
    subscription exists (the message service uses it to deliver what waited for them);
    `sessions` closes a socket once its token stops working (logout, disabled account)."""

    def __init__(
        self,
        hub: LiveHub,
        sessions: SessionWatch,
        *,
        on_agent_connect: Callable[[int], Any] | None = None,
        heartbeat_s: float = 20.0,
    ) -> None:
        self._hub = hub
        self._sessions = sessions
        self._on_agent_connect = on_agent_connect
        self._heartbeat_s = heartbeat_s

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/live", self.live)
        app.router.add_get("/api/agent/ws", self.agent_ws)
        # The watch listens while the app serves: from its startup to its cleanup.
        app.on_startup.append(lambda _app: self._sessions.start())
        app.on_cleanup.append(lambda _app: self._sessions.close())

    @require_role("supervisor", "admin", "manager")
    async def live(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, None, inbox_only=principal(request).role == "manager")

    @require_role("agent")
    async def agent_ws(self, request: web.Request) -> web.WebSocketResponse:
        agent_id = principal(request).agent_id
        assert agent_id is not None
        return await self._serve(request, agent_id)

    async def _serve(
        self, request: web.Request, agent_id: int | None, *, inbox_only: bool = False
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=self._heartbeat_s)
        await ws.prepare(request)
        sub = self._hub.subscribe(agent_id, inbox_only=inbox_only)
        pump = asyncio.create_task(self._pump(ws, sub))
        token = request_token(request)
        assert token is not None  # require_role let the request in
        guard = asyncio.create_task(self._sessions.guard(ws, token))
        try:
            if agent_id is not None and self._on_agent_connect is not None:
                await self._on_agent_connect(agent_id)
            async for msg in ws:  # the clients only listen; read to see pings and the close
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._hub.unsubscribe(sub)
            pump.cancel()
            guard.cancel()
        return ws

    async def _pump(self, ws: web.WebSocketResponse, sub: Subscription) -> None:
        while True:
            msg = await sub.next()
            if msg is None:
                await ws.close(code=CLOSE_TOO_SLOW, message=b"too slow; reconnect")
                return
            try:
                await ws.send_json(msg)
            except ConnectionError:
                return
