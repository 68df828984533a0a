"""AMI over asyncio TCP, as Asterisk 22 speaks it (transcripts 30-35, README fact 18-20)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ccd.sim.asterisk.ami_format import Block, channel_fields, cid, render
from ccd.sim.asterisk.errors import AriError
from ccd.sim.asterisk.model import CAUSE_TEXT, Channel
from ccd.sim.asterisk.pbx import Pbx
from ccd.sim.asterisk.queues import Queue

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def _tv() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class AmiSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.logged_in = False
        self.events = True
        self.session_id = f"0x{id(self):x}"

    def send(self, block: Block) -> None:
        if not self.writer.is_closing():
            self.writer.write(render(block))


class AmiServer:
    def __init__(self, pbx: Pbx, *, user: str, secret: str, time_scale: float) -> None:
        self.pbx = pbx
        self.user = user
        self.secret = secret
        self.time_scale = time_scale
        self.sessions: set[AmiSession] = set()
        self.action_counts: Counter[str] = Counter()
        self.half_open = False
        self.started = time.time()
        self._tasks: set[asyncio.Task[None]] = set()
        pbx.hub.ami_listeners.append(self.on_event)
        pbx.hub.ami_blocks.append(self._broadcast)

    # -------------------------------------------------------------- sessions
    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = AmiSession(reader, writer)
        self.sessions.add(session)
        writer.write(BANNER)
        try:
            while True:
                block = await self._read_block(reader)
                if block is None:
                    break
                if self.half_open:
                    continue  # the socket stays open and nothing answers
                if not await self.handle(session, block):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.sessions.discard(session)
            writer.close()

    @staticmethod
    async def _read_block(reader: asyncio.StreamReader) -> dict[str, list[str]] | None:
        fields: dict[str, list[str]] = {}
        while True:
            line = await reader.readline()
            if not line:
                return None
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, _, value = text.partition(":")
            fields.setdefault(key.strip().lower(), []).append(value.strip())

    def drop_all(self) -> None:
        for session in list(self.sessions):
            transport = session.writer.transport
            if transport is not None:
                transport.abort()
        self.sessions.clear()

    # --------------------------------------------------------------- actions
    async def handle(self, s: AmiSession, f: dict[str, list[str]]) -> bool:
        """One action; False when the server closes the connection."""
        action = (f.get("action") or [""])[0]
        aid = (f.get("actionid") or (None,))[0]
        self.action_counts[action] += 1
        head: Block = [("ActionID", aid)] if aid is not None else []

        def reply(kind: str, *rest: tuple[str, str]) -> None:
            s.send([("Response", kind), *head, *rest])

        name = action.lower()
        if name == "login":
            ok = (f.get("username") or [""])[0] == self.user and \
                (f.get("secret") or [""])[0] == self.secret
            if not ok:  # 30: answered after ~1 s, then the server hangs up
                await asyncio.sleep(1.0 * self.time_scale)
                reply("Error", ("Message", "Authentication failed"))
                return False
            s.logged_in = True
            s.events = (f.get("events") or ["on"])[0].lower() not in ("off", "no", "false")
            reply("Success", ("Message", "Authentication accepted"))
            if s.events:
                uptime = str(int(time.time() - self.started))
                s.send([("Event", "FullyBooted"), ("Privilege", "system,all"),
                        ("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")])
                s.send(self._security("SuccessfulAuth", s, "Informational",
                                      [("AccountID", self.user), ("UsingPassword", "0")]))
            return True
        if not s.logged_in:
            reply("Error", ("Message", "Permission denied"))
            return True
        handler = getattr(self, f"action_{name}", None)
        if handler is None:
            reply("Error", ("Message", f"Invalid/unknown command: {action}. "
                                       "Use Action: ListCommands to show available commands."))
            s.send(self._security("RequestBadFormat", s, "Error",
                                  [("RequestType", f"Action: {action}"), ("AccountID", self.user)]))
            return True
        return handler(s, f, head, reply) is not False

    def _security(self, event: str, s: AmiSession, severity: str, extra: Block) -> Block:
        return [("Event", event), ("Privilege", "security,all"), ("EventTV", _tv()),
                ("Severity", severity), ("Service", "AMI"), ("EventVersion", "1"),
                ("SessionID", s.session_id), ("LocalAddress", "IPV4/TCP/127.0.0.1/5038"),
                ("RemoteAddress", "IPV4/TCP/127.0.0.1/0"), *extra, ("SessionTV", _tv())]

    def action_logoff(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> bool:
        reply("Goodbye", ("Message", "Thanks for all the fish."))
        return False

    def action_ping(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                    reply: Any) -> None:
        reply("Success", ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))

    def action_events(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> None:
        s.events = (f.get("eventmask") or ["on"])[0].lower() not in ("off", "no", "false")
        reply("Success", ("Events", "On" if s.events else "Off"))

    def action_coresettings(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                            reply: Any) -> None:
        reply("Success", ("AMIversion", "11.0.0"), ("AsteriskVersion", "22.10.1"),
              ("SystemName", ""), ("CoreMaxCalls", "500"), ("CoreMaxLoadAvg", "0.000000"),
              ("CoreRunUser", ""), ("CoreRunGroup", ""), ("CoreMaxFilehandles", "0"),
              ("CoreRealTimeEnabled", "No"), ("CoreCDRenabled", "Yes"),
              ("CoreHTTPenabled", "No"), ("SoundsSearchCustomDir", "No"))

    def action_corestatus(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                          reply: Any) -> None:
        started = datetime.fromtimestamp(self.started, UTC)
        reply("Success", ("CoreStartupDate", started.strftime("%Y-%m-%d")),
              ("CoreStartupTime", started.strftime("%H:%M:%S")),
              ("CoreReloadDate", started.strftime("%Y-%m-%d")),
              ("CoreReloadTime", started.strftime("%H:%M:%S")),
              ("CoreCurrentCalls", str(len(self.pbx.channels))), ("CoreProcessedCalls", "0"))

    def action_command(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                       reply: Any) -> None:
        command = (f.get("command") or [""])[0].strip()
        outputs = {
            "core show version": ["Asterisk 22.10.1 built by ccd on a x86_64 running Linux"],
            "core show channels count": [
                f"{len(self.pbx.channels)} active channels", "0 active calls",
                "0 calls processed"],
            "core show uptime": [f"System uptime: {int(time.time() - self.started)} seconds"],
        }
        lines = outputs.get(command)
        if lines is None:
            reply("Error", ("Message", "Command output follows"),
                  ("Output", f"No such command '{command}' "
                             f"(type 'core show help {command}' for other possible commands)"))
            return
        reply("Success", ("Message", "Command output follows"), *[("Output", ln) for ln in lines])

    def action_originate(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                         reply: Any) -> None:
        dial = (f.get("channel") or [""])[0]
        app = (f.get("application") or [""])[0]
        data = (f.get("data") or [""])[0]
        context = (f.get("context") or (None,))[0]
        exten = (f.get("exten") or (None,))[0]
        timeout_ms = float((f.get("timeout") or ["30000"])[0] or 30000)
        variables = dict(v.split("=", 1) for item in f.get("variable", [])
                         for v in item.split(",") if "=" in v)
        aid = head[0][1] if head else None
        if not dial or (not app and not exten):
            reply("Error", ("Message", "Channel not specified" if not dial
                            else "Application or extension must be specified"))
            return
        is_async = (f.get("async") or ["false"])[0].lower() in ("true", "yes", "1")

        def result(ch: Channel, answered: bool, reason: int) -> None:
            block: Block = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
            if aid is not None:
                block.append(("ActionID", aid))
            block += [("Response", "Success" if answered else "Failure"),
                      ("Channel", ch.name if answered else dial)]
            # Asterisk reads a missing Context header as "".
            block += [("Context", context or ""), ("Exten", exten)] if exten else \
                [("Application", app), ("Data", data)]
            block += [("Reason", str(reason)), ("Uniqueid", ch.uniqueid if answered else
                                                 "<unknown>"),
                      ("CallerIDNum", cid(ch.caller[1])), ("CallerIDName", cid(ch.caller[0]))]
            self._broadcast(block)
            if not is_async:
                reply("Success" if answered else "Error",
                      ("Message", "Originate successfully queued" if answered
                       else "Originate failed"))

        try:
            self.pbx.parse_endpoint(dial)
        except AriError:
            reply("Error", ("Message", "Originate failed"))
            return
        if is_async:  # 31: the reply comes before any event of the new channel
            reply("Success", ("Message", "Originate successfully queued"))
        try:
            self.pbx.originate(
                dial, channel_id=(f.get("channelid") or (None,))[0],
                other_id=(f.get("otherchannelid") or (None,))[0],
                caller_id=(f.get("callerid") or (None,))[0], timeout=timeout_ms / 1000,
                context=context if exten else None, exten=exten, variables=variables,
                origin="ami", on_result=result, ami_app=(app, data) if not exten else None)
        except AriError as exc:  # a duplicate ChannelId
            if not is_async:
                reply("Error", ("Message", exc.body["message"]))

    def _find(self, name: str) -> Channel | None:
        for ch in self.pbx.channels.values():
            if ch.name == name or ch.id == name:
                return ch
        return None

    def action_hangup(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> None:
        ch = self._find((f.get("channel") or [""])[0])
        if ch is None:
            reply("Error", ("Message", "No such channel"))
            return
        cause = int((f.get("cause") or ["0"])[0] or 0)
        reply("Success", ("Message", "Channel Hungup"))
        self.pbx.hangup(ch, cause, "ami")

    def action_redirect(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                        reply: Any) -> None:
        ch = self._find((f.get("channel") or [""])[0])
        if ch is None:
            reply("Error", ("Message", "Channel specified does not exist"))
            return
        context = (f.get("context") or [""])[0]
        exten = (f.get("exten") or ["s"])[0]
        if not context:
            reply("Error", ("Message", "Context not specified"))
            return
        reply("Success", ("Message", "Redirect successful"))
        self.pbx.continue_in_dialplan(ch, context, exten)

    def action_getvar(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> None:
        name = (f.get("variable") or [""])[0]
        chan = (f.get("channel") or (None,))[0]
        if chan is None:
            value = self.pbx.global_vars.get(name, "")
        else:
            ch = self._find(chan)
            if ch is None:
                reply("Error", ("Message", "No such channel"))
                return
            value = ch.variables.get(name, "")
        reply("Success", ("Variable", name), ("Value", value))

    def action_setvar(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> None:
        name = (f.get("variable") or [""])[0]
        value = (f.get("value") or [""])[0]
        chan = (f.get("channel") or (None,))[0]
        if chan is None:
            self.pbx.global_vars[name] = value
        else:
            ch = self._find(chan)
            if ch is None:
                reply("Error", ("Message", "No such channel"))
                return
            ch.variables[name] = value
        reply("Success", ("Message", "Variable Set"))

    def _event_list(self, s: AmiSession, head: Block, reply: Any, message: str, items:
                    list[Block], complete: str,
                    extra: Sequence[tuple[str, str]] = ()) -> None:
        reply("Success", ("EventList", "start"), ("Message", message))
        for item in items:
            s.send(item)
        s.send([("Event", complete), *head, ("EventList", "Complete"),
                ("ListItems", str(len(items))), *extra])

    def action_coreshowchannels(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                                reply: Any) -> None:
        items = []
        for ch in reversed(self.pbx.channels.values()):
            secs = int(time.monotonic() - ch.created_at)
            items.append([("Event", "CoreShowChannel"), *head, *channel_fields(ch),
                          ("Application", ch.app_name), ("ApplicationData", ch.app_data),
                          ("Duration", f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"),
                          ("BridgeId", ch.bridge.id if ch.bridge else "")])
        self._event_list(s, head, reply, "Channels will follow", items, "CoreShowChannelsComplete")

    def action_status(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                      reply: Any) -> None:
        wanted = (f.get("channel") or (None,))[0]
        items = []
        for ch in reversed(self.pbx.channels.values()):
            if wanted and ch.name != wanted:
                continue
            items.append([("Event", "Status"), ("Privilege", "Call"), *channel_fields(ch),
                          ("Type", ch.tech), ("DNID", ""), ("BridgeID",
                                                            ch.bridge.id if ch.bridge else ""),
                          ("Application", ch.app_name), ("Data", ch.app_data),
                          ("Seconds", str(int(time.monotonic() - ch.created_at))), *head])
        self._event_list(s, head, reply, "Channel status will follow", items, "StatusComplete",
                         [("Items", str(len(items)))])

    def _queues(self, f: dict[str, list[str]]) -> list[Queue]:
        name = (f.get("queue") or (None,))[0]
        queues = self.pbx.queues.by_name
        if name is None:
            return list(queues.values())
        return [queues[name]] if name in queues else []  # fact 20: unknown -> empty list

    def action_queuesummary(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                            reply: Any) -> None:
        items = []
        for q in self._queues(f):
            available = sum(1 for m in q.members if m.status == 1)
            items.append([("Event", "QueueSummary"), ("Queue", q.name),
                          ("LoggedIn", str(len(q.members))), ("Available", str(available)),
                          ("Callers", str(len(q.entries))), ("HoldTime", "0"), ("TalkTime", "0"),
                          ("LongestHoldTime", "0"), *head])
        self._event_list(s, head, reply, "Queue summary will follow", items,
                         "QueueSummaryComplete")

    def action_queuestatus(self, s: AmiSession, f: dict[str, list[str]], head: Block,
                           reply: Any) -> None:
        items: list[Block] = []
        for q in self._queues(f):
            items.append([("Event", "QueueParams"), ("Queue", q.name), ("Max", "0"),
                          ("Strategy", q.strategy), ("Calls", str(len(q.entries))),
                          ("Holdtime", "0"), ("TalkTime", "0"), ("Completed", "0"),
                          ("Abandoned", str(q.abandoned)), ("ServiceLevel", "0"),
                          ("ServicelevelPerf", "0.0"), ("ServicelevelPerf2", "0.0"),
                          ("Weight", "0"), *head])
            for m in q.members:
                block = self.pbx.queues.member_block(q, m, "QueueMember")
                block = [(k, v) for k, v in block if k not in ("Ringinuse",)]
                block[2:5] = [("Name", m.name), ("Location", m.interface),
                              ("StateInterface", m.interface)]
                items.append([*block, *head])
            items += [[*entry, *head] for entry in self.pbx.queues.entry_blocks(q)]
        self._event_list(s, head, reply, "Queue status will follow", items,
                         "QueueStatusComplete")

    # ---------------------------------------------------------------- events
    def _broadcast(self, block: Block) -> None:
        if self.half_open:
            return
        data = render(block)
        for s in self.sessions:
            if s.logged_in and s.events and not s.writer.is_closing():
                s.writer.write(data)

    def on_event(self, type_: str, fields: dict[str, Any], ch: Channel | None,
                 caller: Channel | None) -> None:
        """Translate a PBX event into the AMI event Asterisk sends for it."""
        if not self.sessions or ch is None:
            return
        block: Block | None = None
        if type_ == "ChannelCreated":
            block = [("Event", "Newchannel"), ("Privilege", "call,all"), *channel_fields(ch)]
        elif type_ == "ChannelStateChange":
            block = [("Event", "Newstate"), ("Privilege", "call,all"), *channel_fields(ch)]
        elif type_ == "Dial":
            status = fields["dialstatus"]
            name = {"": "DialBegin", "RINGING": "DialState"}.get(status, "DialEnd")
            block = [("Event", name), ("Privilege", "call,all"),
                     *(channel_fields(caller) if caller is not None else []),
                     *channel_fields(ch, "Dest")]
            block.append(("DialString", fields["dialstring"]) if not status
                         else ("DialStatus", status))
        elif type_ == "ChannelHangupRequest":
            name = "SoftHangupRequest" if fields.get("soft") else "HangupRequest"
            block = [("Event", name), ("Privilege", "call,all"), *channel_fields(ch),
                     ("Cause", str(fields.get("cause", 0)))]
        elif type_ == "ChannelDestroyed":
            cause = fields["cause"]
            block = [("Event", "Hangup"), ("Privilege", "call,all"), *channel_fields(ch),
                     ("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))]
        elif type_ == "ChannelVarset":
            block = [("Event", "VarSet"), ("Privilege", "dialplan,all"), *channel_fields(ch),
                     ("Variable", fields["variable"]), ("Value", fields["value"])]
        elif type_ == "ChannelDtmfReceived":
            block = [("Event", "DTMFEnd"), ("Privilege", "dtmf,all"), *channel_fields(ch),
                     ("Digit", fields["digit"]), ("DurationMs", str(fields["duration_ms"])),
                     ("Direction", "Received")]
        if block is not None:
            self._broadcast(block)
