"""Every series the engine feeds shows up in the scrape text with the value it was given."""

from __future__ import annotations

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from ccd.ops.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(body.decode())
        for s in fam.samples
    }


def test_call_counters_and_gauges() -> None:
    m = Metrics()
    for _ in range(3):
        m.call_originated("spring")
    m.call_answered("spring")
    m.call_dropped("spring")
    m.call_ended("spring", "ANSWERED")
    m.call_ended("spring", "BUSY")
    m.call_ended("spring", "BUSY")
    m.call_originated("autumn")
    m.set_live_calls("spring", 4)
    m.set_live_calls("autumn", 1)
    m.set_dial_level("spring", 2.25)
    m.set_abandon_rate("spring", 0.018)
    m.watch_campaigns(lambda: 2)
    s = _samples(m)
    c = (("campaign", "spring"),)
    assert s[("ccd_calls_originated_total", c)] == 3
    assert s[("ccd_calls_originated_total", (("campaign", "autumn"),))] == 1
    assert s[("ccd_calls_answered_total", c)] == 1
    assert s[("ccd_calls_dropped_total", c)] == 1
    assert s[("ccd_call_outcomes_total", (("campaign", "spring"), ("outcome", "BUSY")))] == 2
    assert s[("ccd_calls_live", c)] == 4
    assert s[("ccd_dial_level", c)] == 2.25
    assert s[("ccd_abandon_rate", c)] == 0.018
    assert s[("ccd_campaigns_running", ())] == 2
    assert m.status_line() == "2 campaigns running, 5 calls live"


def test_agents_by_state_zero_the_states_that_emptied() -> None:
    m = Metrics()
    m.set_agents({"READY": 3, "TALKING": 2})
    m.set_agents({"READY": 4, "PAUSED": 1})
    s = _samples(m)
    assert s[("ccd_agents", (("state", "READY"),))] == 4
    assert s[("ccd_agents", (("state", "TALKING"),))] == 0
    assert s[("ccd_agents", (("state", "PAUSED"),))] == 1


def test_links_rest_latency_and_event_queue() -> None:
    m = Metrics()
    m.watch_links(lambda: {("pbx1", "ari"): 3, ("pbx1", "ami"): 2, ("pbx2", "ari"): 0})
    m.observe_rest("pbx1", "originate", 0.004)
    m.observe_rest("pbx1", "originate", 0.3)
    queue = [1, 2, 3]
    m.watch_event_queue(lambda: len(queue))
    s = _samples(m)
    assert s[("ccd_link_reconnects_total", (("link", "ari"), ("node", "pbx1")))] == 2
    assert s[("ccd_link_reconnects_total", (("link", "ami"), ("node", "pbx1")))] == 1
    op = (("node", "pbx1"), ("operation", "originate"))
    assert s[("ccd_ari_request_seconds_count", op)] == 2
    assert s[("ccd_ari_request_seconds_bucket", (("le", "0.005"), *op))] == 1
    assert s[("ccd_ari_request_seconds_bucket", (("le", "0.5"), *op))] == 2
    assert s[("ccd_link_reconnects_total", (("link", "ari"), ("node", "pbx2")))] == 0
    assert s[("ccd_event_queue_depth", ())] == 3
    queue.clear()  # read at scrape time, not copied
    assert _samples(m)[("ccd_event_queue_depth", ())] == 0


async def test_pool_usage_is_read_at_scrape_time(pool: asyncpg.Pool) -> None:
    m = Metrics()
    m.watch_pool(pool)
    async with pool.acquire(), pool.acquire():
        s = _samples(m)
        assert s[("ccd_db_pool_in_use", ())] == 2
        assert s[("ccd_db_pool_size", ())] >= 2
    s = _samples(m)
    assert s[("ccd_db_pool_in_use", ())] == 0
    assert s[("ccd_db_pool_idle", ())] == s[("ccd_db_pool_size", ())]


def test_registries_are_per_instance() -> None:
    a, b = Metrics(), Metrics()  # no global registry: two daemons in one test process are fine
    a.call_originated("x")
    assert ("ccd_calls_originated_total", (("campaign", "x"),)) not in _samples(b)
