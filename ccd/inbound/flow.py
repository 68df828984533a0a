"""IVR flows: one YAML file per flow, validated into a pydantic model, then checked as a graph.

A flow file names its first node and holds its nodes by name; `kind` picks the node type:

    start: hours
    nodes:
      hours: {kind: hours, time_zone: Europe/Moscow, open: menu, closed: closed,
              weekly: {mon-fri: ["09:00-18:00"]}, holidays: [2026-01-01]}
      menu:  {kind: menu, prompt: [sound:ccd/main-menu], options: {"1": sales, "2": acct},
              fallback: goodbye}
      ...

Errors name the file, the node and the field:
`flows/main.yaml: node 'menu1': field 'options.5': unknown node 'sales'`.
Besides per-field validation the checker reports unknown targets, nodes not reachable from
`start`, and loops in which no node waits for the caller (they would spin forever).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ccd.domain.recording import RecordFormat, RecordPolicy, parse_record

NodeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
_MEDIA = re.compile(r"^(sound|recording|digits|number|tone):\S+$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FlowError(ValueError):
    """A flow that cannot be used; one line per problem, each naming file, node and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _media_list(v: Any) -> Any:
    return [v] if isinstance(v, str) else v


def _check_media(items: list[str]) -> list[str]:
    for i, m in enumerate(items):
        if not _MEDIA.match(m):
            raise ValueError(
                f"item {i}: {m!r} is not media (sound:NAME, recording:NAME, digits:N, "
                "number:N or tone:SPEC; ${var} is replaced by a call variable)"
            )
    return items


Media = Annotated[list[str], Field(min_length=1)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Nodes whose run waits for the caller (input, agent, recording): a loop through one of
    # them is paced by the caller, not a spin.
    waits_for_caller: ClassVar[bool] = False

    def targets(self) -> Iterator[tuple[str, str]]:
        """(field path, node name) for every edge out of this node."""
        for name in ("next",):
            value = getattr(self, name, None)
            if value is not None:
                yield name, value


class _WithPrompt(_Node):
    @field_validator("prompt", "invalid_prompt", mode="before", check_fields=False)
    @classmethod
    def _prompt_list(cls, v: Any) -> Any:
        return _media_list(v)

    @field_validator("prompt", "invalid_prompt", check_fields=False)
    @classmethod
    def _prompt_media(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_media(v)


class PlayNode(_WithPrompt):
    """Play media, then go on. Digits pressed meanwhile stop it and wait for the next menu."""

    kind: Literal["play"]
    prompt: Media
    interruptible: bool = True
    next: NodeName


class MenuNode(_WithPrompt):
    kind: Literal["menu"]
    prompt: Media
    options: dict[str, NodeName] = Field(min_length=1)
    timeout_s: Seconds = 5.0
    max_timeouts: int = Field(default=2, ge=0, le=10, description="re-prompts after silence")
    max_invalid: int = Field(default=2, ge=1, le=10, description="invalid digits before fallback")
    invalid_prompt: list[str] = Field(default_factory=lambda: ["sound:option-is-invalid"])
    fallback: NodeName
    waits_for_caller: ClassVar[bool] = True

    @field_validator("options")
    @classmethod
    def _digits(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if key not in "0123456789*#" or len(key) != 1:
                raise ValueError(f"option {key!r} is not one DTMF digit (0-9, *, #)")
        return v

    def targets(self) -> Iterator[tuple[str, str]]:
        for digit, target in self.options.items():
            yield f"options.{digit}", target
        yield "fallback", self.fallback


class CollectNode(_WithPrompt):
    kind: Literal["collect"]
    prompt: Media
    into: str
    min_digits: int = Field(default=1, ge=1, le=64)
    max_digits: int = Field(default=16, ge=1, le=64)
    terminator: Literal["#", "*"] | None = "#"
    first_digit_timeout_s: Seconds = 5.0
    inter_digit_timeout_s: Seconds = 3.0
    pattern: str | None = None
    max_attempts: int = Field(default=3, ge=1, le=10)
    invalid_prompt: list[str] = Field(default_factory=lambda: ["sound:option-is-invalid"])
    next: NodeName
    fallback: NodeName
    waits_for_caller: ClassVar[bool] = True

    @field_validator("into")
    @classmethod
    def _var(cls, v: str) -> str:
        if not _VAR.match(v):
            raise ValueError(f"{v!r} is not a variable name (letters, digits, _)")
        return v

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v

    @field_validator("max_digits")
    @classmethod
    def _max_ge_min(cls, v: int, info: Any) -> int:
        if v < info.data.get("min_digits", 1):
            raise ValueError("must be at least min_digits")
        return v

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "fallback", self.fallback


class HoursNode(_Node):
    """Open/closed by a weekly schedule in one time zone, with holidays (closed all day)."""

    kind: Literal["hours"]
    time_zone: str
    weekly: dict[str, list[str]]
    holidays: list[date] = Field(default_factory=list)
    open: NodeName
    closed: NodeName

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("weekly")
    @classmethod
    def _schedule(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, spans in v.items():
            _days(key)
            for span in spans:
                m = _SPAN.match(span)
                if not m or (m[1], m[2]) >= (m[3], m[4]):
                    raise ValueError(f"{key}: {span!r} is not a span like 09:00-18:00")
        return v

    def spans(self) -> dict[int, list[tuple[time, time | None]]]:
        """ISO weekday (1 = Monday) -> [(start, end)]; end None means midnight."""
        out: dict[int, list[tuple[time, time | None]]] = {}
        for key, spans in self.weekly.items():
            for day in _days(key):
                for span in spans:
                    a, b = span.split("-")
                    end = None if b == "24:00" else time.fromisoformat(b)
                    out.setdefault(day, []).append((time.fromisoformat(a), end))
        return out

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "open", self.open
        yield "closed", self.closed


def _days(key: str) -> list[int]:
    """'mon', 'mon-fri', 'sat,sun' -> ISO weekdays."""
    out: list[int] = []
    for part in key.lower().split(","):
        a, _, b = part.strip().partition("-")
        if a not in _DAYS or (b and b not in _DAYS):
            raise ValueError(f"{key!r}: days are mon..sun, ranges like mon-fri, lists like sat,sun")
        lo, hi = _DAYS.index(a), _DAYS.index(b or a)
        if hi < lo:
            raise ValueError(f"{key!r}: a day range runs forward (mon-fri)")
        out.extend(range(lo + 1, hi + 2))
    return out


class SetNode(_Node):
    kind: Literal["set"]
    var: str
    value: str
    next: NodeName

    @field_validator("var")
    @classmethod
    def _var(cls, v: str) -> str:
        if not _VAR.match(v):
            raise ValueError(f"{v!r} is not a variable name (letters, digits, _)")
        return v


class QueueNode(_Node):
    kind: Literal["queue"]
    queue: NodeName
    priority: int = Field(default=0, ge=0, le=100, description="higher is served first")
    max_wait_s: Seconds = 600.0
    overflow: NodeName
    announce_every_s: Seconds | None = 60.0
    moh_class: str | None = None
    waits_for_caller: ClassVar[bool] = True

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "overflow", self.overflow


class VoicemailNode(_WithPrompt):
    """Play a prompt and a beep, then record the caller into a stored recording."""

    kind: Literal["voicemail"]
    prompt: list[str] = Field(default_factory=lambda: ["sound:vm-intro", "sound:beep"])
    max_s: Seconds = 120.0
    next: NodeName | None = None  # None: hang up when the recording ends
    waits_for_caller: ClassVar[bool] = True


class CallbackNode(_WithPrompt):
    """Create a CALLBACK lead with the caller's number in a campaign, then go on."""

    kind: Literal["callback"]
    campaign: str = Field(min_length=1, description="campaign name")
    prompt: list[str] | None = None
    next: NodeName


class HangupNode(_WithPrompt):
    kind: Literal["hangup"]
    prompt: list[str] | None = None


class GotoNode(_Node):
    kind: Literal["goto"]
    next: NodeName


Node = Annotated[
    PlayNode
    | MenuNode
    | CollectNode
    | HoursNode
    | SetNode
    | QueueNode
    | VoicemailNode
    | CallbackNode
    | HangupNode
    | GotoNode,
    Field(discriminator="kind"),
]
NODE_KINDS = (
    "play", "menu", "collect", "hours", "set", "queue", "voicemail", "callback", "hangup", "goto",
)  # fmt: skip


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""  # the file stem; set by the loader
    start: NodeName
    nodes: dict[NodeName, Node] = Field(min_length=1)
    # Calls answered by an agent: recorded all, none or a percentage ("30%"), in this format,
    # with this notice played to the caller when the agent is connected (optional: the IVR
    # can say it before the queue).
    record: str = "none"
    record_format: RecordFormat = "wav"
    record_notice: str | None = Field(default=None, pattern=r"^(sound|recording):\S+$")

    @field_validator("record")
    @classmethod
    def _record(cls, v: str) -> str:
        parse_record(v)
        return v

    @property
    def record_policy(self) -> RecordPolicy:
        return RecordPolicy(parse_record(self.record), self.record_format, self.record_notice)


# --- loading ---


def load_flow(path: Path) -> Flow:
    """Read, validate and check one flow file; FlowError lists every problem found."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlowError([f"{path}: cannot read: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise FlowError(
            [f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if not isinstance(raw, dict):
        raise FlowError([f"{path}: a flow is a mapping with 'start' and 'nodes'"])
    raw = {**raw, "name": path.stem}
    try:
        flow = Flow.model_validate(raw)
    except ValidationError as exc:
        raise FlowError([_describe(path, err) for err in exc.errors()]) from None
    problems = check_flow(flow)
    if problems:
        raise FlowError([f"{path}: {p}" for p in problems])
    return flow


def load_flows(directory: Path) -> dict[str, Flow]:
    """Every *.yaml / *.yml flow in `directory`, by name; all files are checked before any error."""
    if not directory.is_dir():
        raise FlowError([f"{directory}: flows directory not found"])
    flows: dict[str, Flow] = {}
    problems: list[str] = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            flow = load_flow(path)
        except FlowError as exc:
            problems.extend(exc.problems)
            continue
        if flow.name in flows:
            problems.append(f"{path}: a flow named {flow.name!r} was already loaded")
        flows[flow.name] = flow
    if problems:
        raise FlowError(problems)
    return flows


def _describe(path: Path, err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "union_tag_invalid":
        msg = f"unknown kind; one of {', '.join(NODE_KINDS)}"
    elif err["type"] == "union_tag_not_found":
        msg = f"missing 'kind' (one of {', '.join(NODE_KINDS)})"
    if len(loc) >= 2 and loc[0] == "nodes":
        node, rest = loc[1], loc[2:]
        if rest and rest[0] in NODE_KINDS:
            rest = rest[1:]  # the discriminator's tag, not a field
        field = ".".join(rest)
        if err["type"] == "missing":
            return f"{path}: node {node!r}: field {field!r}: required"
        if err["type"] == "extra_forbidden":
            return f"{path}: node {node!r}: field {field!r}: unknown field"
        return (
            f"{path}: node {node!r}: field {field!r}: {msg}"
            if field
            else f"{path}: node {node!r}: {msg}"
        )
    field = ".".join(loc) or "(root)"
    if err["type"] == "extra_forbidden":
        return f"{path}: field {field!r}: unknown field"
    return f"{path}: field {field!r}: {msg}"


# --- graph checks ---


def check_flow(flow: Flow) -> list[str]:
    """Unknown targets, unreachable nodes and input-less loops; [] when the flow is sound."""
    problems: list[str] = []
    if flow.start not in flow.nodes:
        problems.append(f"field 'start': unknown node {flow.start!r}")
    edges: dict[str, list[str]] = {}
    for name, node in flow.nodes.items():
        edges[name] = []
        for field, target in node.targets():
            if target in flow.nodes:
                edges[name].append(target)
            else:
                problems.append(f"node {name!r}: field {field!r}: unknown node {target!r}")
    reachable = _reach(flow.start, edges) if flow.start in flow.nodes else set(flow.nodes)
    for name in flow.nodes:
        if name not in reachable:
            problems.append(f"node {name!r}: unreachable from start {flow.start!r}")
    passive = {n: [t for t in ts if not flow.nodes[t].waits_for_caller]
               for n, ts in edges.items() if not flow.nodes[n].waits_for_caller}  # fmt: skip
    for cycle in _cycles(passive):
        path = " -> ".join([*cycle, cycle[0]])
        problems.append(f"node {cycle[0]!r}: loop without caller input: {path}")
    return problems


def _reach(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for t in edges[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return seen


def _cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component that loops (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                out.append(_cycle_in(sorted(comp)[0], set(comp), edges))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _cycle_in(start: str, comp: set[str], edges: dict[str, list[str]]) -> list[str]:
    """A simple cycle through `start` inside one strongly connected component."""
    path = [start]
    seen = {start}
    while True:
        nxt = next(t for t in edges[path[-1]] if t in comp)
        if nxt == start:
            return path
        if nxt in seen:  # walked into a smaller loop: report that one
            return path[path.index(nxt) :]
        seen.add(nxt)
        path.append(nxt)
