"""Prometheus metrics: one registry per process, owned by a Metrics object the engine calls.

The engine reports facts through small methods (call_originated, set_agents, ...); values that
live elsewhere (DB pool usage, event-queue depth) are read at scrape time, never copied.
Label values must stay few: campaign names, node names, outcome and state names, and REST
operation names chosen by the caller ("originate", "bridge.add"), never ids or URLs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# ARI REST round trips: loopback calls take ~1 ms, a loaded Asterisk tens of ms.
REST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _PoolCollector(Collector):
    """asyncpg pool size and idle connections, read when Prometheus scrapes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def collect(self) -> Iterable[Metric]:
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        for name, doc, value in (
            ("ccd_db_pool_size", "Open connections in the database pool", size),
            ("ccd_db_pool_idle", "Idle connections in the database pool", idle),
            ("ccd_db_pool_in_use", "Connections checked out of the pool", size - idle),
            ("ccd_db_pool_max", "Maximum size of the database pool", self._pool.get_max_size()),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


class _ReconnectCollector(Collector):
    """Reconnects per Asterisk link, from the links' own connect counts at scrape time."""

    def __init__(self, connects: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._connects = connects

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "ccd_link_reconnects", "Reconnects of an Asterisk link", labels=["node", "link"]
        )
        for (node, link), n in sorted(self._connects().items()):
            family.add_metric([node, link], max(n - 1, 0))
        yield family


class _SmscCollector(Collector):
    """SMSC links: bound or not, and binds since start, read from the links at scrape time."""

    def __init__(
        self, states: Callable[[], Mapping[str, str]], binds: Callable[[], Mapping[str, int]]
    ) -> None:
        self._states, self._binds = states, binds

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("ccd_smsc_link_up", "SMSC link bound (1) or not (0)",
                               labels=["link"])  # fmt: skip
        for link, state in sorted(self._states().items()):
            up.add_metric([link], 1.0 if state == "bound" else 0.0)
        binds = CounterMetricFamily("ccd_smsc_binds", "SMSC link binds since start",
                                    labels=["link"])  # fmt: skip
        for link, n in sorted(self._binds().items()):
            binds.add_metric([link], n)
        yield up
        yield binds


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._originated = Counter(
            "ccd_calls_originated", "Calls originated", ["campaign"], registry=r
        )
        self._answered = Counter(
            "ccd_calls_answered", "Originated calls answered by a person", ["campaign"],
            registry=r,
        )  # fmt: skip
        self._dropped = Counter(
            "ccd_calls_dropped", "Answered calls dropped for want of an agent (abandoned)",
            ["campaign"], registry=r,
        )  # fmt: skip
        self._outcomes = Counter(
            "ccd_call_outcomes", "Ended calls by outcome", ["campaign", "outcome"], registry=r
        )
        self._live = Gauge("ccd_calls_live", "Calls in progress", ["campaign"], registry=r)
        self._agents = Gauge("ccd_agents", "Agents by state", ["state"], registry=r)
        self._dial_level = Gauge(
            "ccd_dial_level", "Lines dialed per available agent (pacer output)", ["campaign"],
            registry=r,
        )  # fmt: skip
        self._abandon = Gauge(
            "ccd_abandon_rate", "Abandon rate the pacer sees (drops / answered by a person)",
            ["campaign"], registry=r,
        )  # fmt: skip
        self._campaigns = Gauge("ccd_campaigns_running", "Campaigns running", registry=r)
        self._observer_failures = Counter(
            "ccd_observer_failures", "Notifications an observer failed on (the call went on)",
            ["event"], registry=r,
        )  # fmt: skip
        self._rest = Histogram(
            "ccd_ari_request_seconds", "ARI REST request latency", ["node", "operation"],
            buckets=REST_BUCKETS, registry=r,
        )  # fmt: skip
        self._queue = Gauge(
            "ccd_event_queue_depth", "Asterisk events received and not yet handled", registry=r
        )
        self._live_by_campaign: dict[str, int] = {}
        self._campaigns_running: Callable[[], int] = lambda: 0
        self._agent_states: set[str] = set()

    # --- calls ---

    def call_originated(self, campaign: str) -> None:
        self._originated.labels(campaign).inc()

    def call_answered(self, campaign: str) -> None:
        """A person answered (not a machine, not a fax)."""
        self._answered.labels(campaign).inc()

    def call_dropped(self, campaign: str) -> None:
        self._dropped.labels(campaign).inc()

    def call_ended(self, campaign: str, outcome: str) -> None:
        self._outcomes.labels(campaign, outcome).inc()

    def set_live_calls(self, campaign: str, n: int) -> None:
        self._live.labels(campaign).set(n)
        self._live_by_campaign[campaign] = n

    # --- pacing and agents ---

    def set_dial_level(self, campaign: str, level: float) -> None:
        self._dial_level.labels(campaign).set(level)

    def set_abandon_rate(self, campaign: str, rate: float) -> None:
        self._abandon.labels(campaign).set(rate)

    def watch_campaigns(self, running: Callable[[], int]) -> None:
        """`running` (the campaigns this process dials) is called at every scrape and for
        systemd's STATUS= line."""
        self._campaigns_running = running
        self._campaigns.set_function(lambda: float(running()))

    def observer_failed(self, event: str) -> None:
        self._observer_failures.labels(event).inc()

    def set_agents(self, by_state: Mapping[str, int]) -> None:
        """The whole picture: a state missing from `by_state` is set to 0."""
        self._agent_states |= set(by_state)
        for state in self._agent_states:
            self._agents.labels(state).set(by_state.get(state, 0))

    # --- Asterisk links ---

    def watch_links(self, connects: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        """`connects()` gives successful connects per (node, link) since start, link being
        "ari" or "ami"; every one after the first is a reconnect."""
        self.registry.register(_ReconnectCollector(connects))

    def watch_smsc(
        self, states: Callable[[], Mapping[str, str]], binds: Callable[[], Mapping[str, int]]
    ) -> None:
        """`states()`: link -> its state (`bound`, ...); `binds()`: link -> binds since start."""
        self.registry.register(_SmscCollector(states, binds))

    def observe_rest(self, node: str, operation: str, seconds: float) -> None:
        self._rest.labels(node, operation).observe(seconds)

    def watch_event_queue(self, depth: Callable[[], int]) -> None:
        """`depth` (Asterisk events received, not yet handled) is called at every scrape."""
        self._queue.set_function(lambda: float(depth()))

    # --- database ---

    def watch_pool(self, pool: asyncpg.Pool) -> None:
        self.registry.register(_PoolCollector(pool))

    # --- output ---

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def status_line(self) -> str:
        """One line for systemd's STATUS=."""
        live = sum(self._live_by_campaign.values())
        return f"{self._campaigns_running()} campaigns running, {live} calls live"
