"""A small app_queue (34): a Local channel into a queue's entry context answers, joins the queue
after QUEUE_JOIN s and rings every member (ringall); members ring and do not answer. A caller who
hangs up abandons. AMI sees it all (QueueCallerJoin, AgentCalled, QueueCallerAbandon, ...)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ccd.sim.asterisk.ami_format import Block, channel_fields
from ccd.sim.asterisk.model import Channel

if TYPE_CHECKING:
    from ccd.sim.asterisk.pbx import Pbx

QUEUE_JOIN = 0.5  # Answer() then Queue(): the caller joins half a second after answering


@dataclass(eq=False, slots=True)
class Member:
    interface: str  # PJSIP/agent1
    name: str  # Agent1
    status: int = 1  # AST_DEVICE_*: 1 not in use, 6 ringing

    @classmethod
    def parse(cls, spec: str) -> Member:
        """queues.conf style: "PJSIP/agent1" or "PJSIP/agent1,0,Agent1"."""
        parts = [p.strip() for p in spec.split(",")]
        if "/" not in parts[0]:
            raise ValueError(f"queue member {spec!r}: expected Tech/resource")
        return cls(parts[0], parts[2] if len(parts) > 2 and parts[2] else parts[0])


@dataclass(eq=False, slots=True)
class Queue:
    name: str
    members: list[Member]
    entry_context: str | None = None
    strategy: str = "ringall"
    entries: list[Channel] = field(default_factory=list)
    joined_at: dict[str, float] = field(default_factory=dict)
    ringing: dict[str, list[Channel]] = field(default_factory=dict)  # caller id -> member legs
    abandoned: int = 0
    login_time: int = field(default_factory=lambda: int(time.time()))


class Queues:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self.by_name: dict[str, Queue] = {}
        self._seq = itertools.count()

    def add(self, name: str, members: list[str], entry_context: str | None,
            strategy: str) -> Queue:
        queue = Queue(name, [Member.parse(m) for m in members], entry_context, strategy)
        self.by_name[name] = queue
        return queue

    def for_context(self, context: str) -> Queue | None:
        for queue in self.by_name.values():
            if queue.entry_context == context:
                return queue
        return None

    def _ami(self, block: Block) -> None:
        for listener in self.pbx.hub.ami_blocks:
            listener(block)

    def member_block(self, queue: Queue, m: Member, event: str) -> Block:
        return [("Event", event), ("Queue", queue.name), ("MemberName", m.name),
                ("Interface", m.interface), ("StateInterface", m.interface),
                ("Membership", "static"), ("Penalty", "0"), ("CallsTaken", "0"),
                ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", str(queue.login_time)),
                ("InCall", "0"), ("Status", str(m.status)), ("Paused", "0"),
                ("PausedReason", ""), ("Ringinuse", "0"), ("Wrapuptime", "0")]

    def _member_status(self, queue: Queue, m: Member, status: int) -> None:
        m.status = status
        block = self.member_block(queue, m, "QueueMemberStatus")
        block.insert(1, ("Privilege", "agent,all"))
        self._ami(block)

    def join(self, queue: Queue, caller: Channel) -> None:
        if not caller.alive:
            return
        queue.entries.append(caller)
        queue.joined_at[caller.id] = time.monotonic()
        caller.queue = queue
        caller.priority, caller.app_name, caller.app_data = 2, "Queue", queue.name
        self._ami([("Event", "QueueCallerJoin"), ("Privilege", "agent,all"),
                   *channel_fields(caller), ("Queue", queue.name),
                   ("Position", str(len(queue.entries))), ("Count", str(len(queue.entries)))])
        self._ami([("Event", "MusicOnHoldStart"), ("Privilege", "call,all"),
                   *channel_fields(caller), ("Class", "default")])
        legs = []
        for m in queue.members:
            tech, _, resource = m.interface.partition("/")
            leg = Channel(self.pbx.uniqueid(), f"{m.interface}-{next(self._seq):08x}", tech, "Down",
                          "from-agent", caller.exten, caller=caller.caller,
                          connected=caller.caller, origin="queue")
            leg.uniqueid = leg.id
            leg.linkedid = caller.peer.uniqueid if caller.peer is not None else caller.uniqueid
            leg.dialstring = resource
            self.pbx.register(leg)
            self._ami([("Event", "AgentCalled"), ("Privilege", "agent,all"),
                       *channel_fields(caller), *channel_fields(leg, "Dest"),
                       ("Queue", queue.name), ("Interface", m.interface),
                       ("MemberName", m.name)])
            self.pbx.dial_event(leg, "", caller=caller)
            self.pbx.set_state(leg, "Ringing")
            self.pbx.dial_event(leg, "RINGING", caller=caller)
            self._member_status(queue, m, 6)
            legs.append(leg)
        queue.ringing[caller.id] = legs

    def abandon(self, caller: Channel) -> None:
        """The caller hung up while waiting: the member legs are cancelled."""
        queue = caller.queue
        if not isinstance(queue, Queue) or caller not in queue.entries:
            return
        caller.queue = None
        position = queue.entries.index(caller) + 1
        self._ami([("Event", "MusicOnHoldStop"), ("Privilege", "call,all"),
                   *channel_fields(caller)])
        legs = queue.ringing.pop(caller.id, [])
        for leg in legs:  # 34: app_queue and the dial each report the cancel
            self.pbx.dial_event(leg, "CANCEL", caller=caller)
            self.pbx.dial_event(leg, "CANCEL", caller=caller)
        held = int(time.monotonic() - queue.joined_at.pop(caller.id, time.monotonic()))
        queue.entries.remove(caller)
        queue.abandoned += 1
        self._ami([("Event", "QueueCallerAbandon"), ("Privilege", "agent,all"),
                   *channel_fields(caller), ("Queue", queue.name), ("Position", str(position)),
                   ("OriginalPosition", str(position)), ("HoldTime", str(held))])
        self._ami([("Event", "QueueCallerLeave"), ("Privilege", "agent,all"),
                   *channel_fields(caller), ("Queue", queue.name), ("Position", str(position)),
                   ("Count", str(len(queue.entries)))])
        self.pbx.on_queue_exit(caller, legs)
        for m in queue.members:
            if m.status != 1 and not queue.ringing:
                self._member_status(queue, m, 1)

    def entry_blocks(self, queue: Queue) -> list[Block]:
        now = time.monotonic()
        return [[("Event", "QueueEntry"), ("Queue", queue.name), ("Position", str(i)),
                 ("Channel", c.name), ("Uniqueid", c.uniqueid),
                 ("CallerIDNum", c.caller[1] or "<unknown>"),
                 ("CallerIDName", c.caller[0] or "<unknown>"),
                 ("ConnectedLineNum", c.connected[1] or "<unknown>"),
                 ("ConnectedLineName", c.connected[0] or "<unknown>"),
                 ("Wait", str(int(now - queue.joined_at.get(c.id, now)))), ("Priority", "0")]
                for i, c in enumerate(queue.entries, 1)]
