"""The ACD's matching rules against a small in-memory agents port (no Pbx, no database)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from ccd.domain.agents import AgentState
from ccd.inbound.acd import Acd, AgentOffer
from ccd.inbound.agents_port import reservation_id


@dataclass(eq=False)
class Agent:
    agent_id: int
    state: AgentState = AgentState.PAUSED
    attempt_id: str | None = None
    node: str = "pbx1"

    @property
    def bridge_id(self) -> str:
        return f"agent-{self.agent_id}"

    def serves(self, campaign_id: int | None) -> bool:
        return True


class Agents:
    """READY agents go to waiters first come, first served, as the agent service does."""

    def __init__(self, n: int) -> None:
        self.agents = [Agent(i + 1) for i in range(n)]
        self.waiters: list[tuple[str, str | None, asyncio.Future[Agent]]] = []

    async def reserve_longest_idle(self, campaign_id, attempt_id, *, wait_s=0.0, node=None):
        fut: asyncio.Future[Agent] = asyncio.get_running_loop().create_future()
        self.waiters.append((attempt_id, node, fut))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), wait_s)
        except TimeoutError:
            return None
        finally:
            self.waiters = [w for w in self.waiters if w[2] is not fut]

    def ready(self, agent: Agent) -> None:
        agent.state = AgentState.READY
        for rid, node, fut in self.waiters:
            if not fut.done() and node in (None, agent.node):
                agent.state, agent.attempt_id = AgentState.RESERVED, rid
                fut.set_result(agent)
                return

    async def release(self, agent_id: int, attempt_id: str) -> None:
        agent = self.agents[agent_id - 1]
        if agent.attempt_id == attempt_id and agent.state is AgentState.RESERVED:
            agent.state, agent.attempt_id = AgentState.READY, None

    async def bridged(
        self, agent_id: int, call_id: str, *, channel_id: str | None = None
    ) -> None: ...

    async def call_ended(self, agent_id: int, attempt_id: str) -> bool:
        return False

    def sessions(self) -> list[Agent]:
        return self.agents


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_priority_then_arrival_order_and_requeue_front() -> None:
    port = Agents(3)
    acd = Acd(port)
    offers: list[AgentOffer] = []
    entries = {}
    for call, prio in (("a", 0), ("b", 0), ("c", 5), ("d", 0)):
        entries[call] = acd.join(call, queue="q", priority=prio, campaign_id=None,
                                 max_wait_s=60, deliver=offers.append)  # fmt: skip
    await settle()
    assert [e.call_id for e in acd.waiting()] == ["c", "a", "b", "d"]
    assert [w[0] for w in port.waiters] == [reservation_id(c) for c in "cabd"]
    port.ready(port.agents[0])
    await settle()
    assert [o.call_id for o in offers] == ["c"]
    # "c"'s agent did not take the call: back to the head, ahead of the other priority-0s? no -
    # ahead of its own priority only, which still puts it first
    acd.take(entries["c"])
    acd.requeue_front(entries["c"])
    entries["e"] = acd.join("e", queue="q", priority=5, campaign_id=None, max_wait_s=60,
                            deliver=offers.append)  # fmt: skip
    await settle()
    assert [e.call_id for e in acd.waiting()] == ["c", "e", "a", "b", "d"]
    assert [acd.position(entries[c]) for c in "ceabd"] == [1, 2, 3, 4, 5]
    port.ready(port.agents[1])
    port.ready(port.agents[2])
    await settle()
    assert [o.call_id for o in offers] == ["c", "c", "e"]
    await acd.close()


async def test_leaving_releases_an_agent_offered_meanwhile() -> None:
    port = Agents(1)
    acd = Acd(port)
    offers: list[AgentOffer] = []
    entry = acd.join("x", queue="q", priority=0, campaign_id=None, max_wait_s=60,
                     deliver=offers.append)  # fmt: skip
    await settle()
    port.ready(port.agents[0])
    await settle()
    assert offers and port.agents[0].state is AgentState.RESERVED
    acd.leave(entry)  # the caller hung up before taking the offer
    await settle()
    assert port.agents[0].state is AgentState.READY and port.waiters == []
    await acd.close()


async def test_a_caller_gets_an_agent_of_its_own_asterisk_node() -> None:
    port = Agents(1)
    acd = Acd(port)
    offers: list[tuple[str, AgentOffer]] = []
    for call, node in (("on-pbx2", "pbx2"), ("on-pbx1", "pbx1")):  # pbx2's caller came first
        acd.join(call, queue="q", priority=0, campaign_id=None, max_wait_s=60, node=node,
                 deliver=lambda o, c=call: offers.append((c, o)))  # fmt: skip
    await settle()
    port.ready(port.agents[0])  # an agent whose bridge is on pbx1
    await settle()
    assert [c for c, _ in offers] == ["on-pbx1"]
    await acd.close()


async def test_estimated_wait() -> None:
    port = Agents(2)
    acd = Acd(port, prior_handle_s=120.0)
    first = acd.join("a", queue="q", priority=0, campaign_id=None, max_wait_s=60,
                     deliver=lambda o: None)  # fmt: skip
    assert acd.estimated_wait(first) == math.inf  # nobody staffed
    for agent in port.agents:
        agent.state = AgentState.TALKING
    second = acd.join("b", queue="q", priority=0, campaign_id=None, max_wait_s=60,
                      deliver=lambda o: None)  # fmt: skip
    w1, w2 = acd.estimated_wait(first), acd.estimated_wait(second)
    assert math.isclose(w1, 60.0, rel_tol=0.05) and math.isclose(w2, 2 * w1)
    for _ in range(400):
        acd.record_handle_time("q", 30.0)
    assert acd.estimated_wait(second) == 30.0  # observed calls replace the prior
    await acd.close()


async def test_queue_changes_reach_the_listener() -> None:
    port = Agents(1)
    acd = Acd(port)
    seen: list[tuple[str, int, bool]] = []
    acd.set_listener(lambda q, n, oldest: seen.append((q, n, oldest is not None)))
    a = acd.join("a", queue="q", priority=0, campaign_id=None, max_wait_s=60, deliver=list.append)
    acd.join("b", queue="q", priority=0, campaign_id=None, max_wait_s=60,
             deliver=lambda _o: None)  # fmt: skip
    acd.leave(a)
    await settle()
    port.ready(port.agents[0])  # offered to "b": the queue is empty again
    await settle()
    assert seen == [("q", 1, True), ("q", 2, True), ("q", 1, True), ("q", 0, False)]
    await acd.close()
