"""Asterisk's ARI schema (swagger 1.1 resource files), as the double routes and checks requests.

The package carries what the double needs of Asterisk 22's `ari-api-docs`: `ari_schema.json`,
the operations (paths, methods, parameters, answer models) and the data models (properties,
types, allowed values), without the prose. It is generated from those files by
scripts/gen_ari_schema.py, which also checks (`--check`) that the shipped copy is current.
Nothing is read from outside the package at run time; a folder of resource files can still be
given explicitly (AsteriskDouble(schema_dir=...)) to try another Asterisk version.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESOURCE = Path(__file__).with_name("ari_schema.json")

# Messages Asterisk's handlers answer with, where they differ from a generic check (transcript 16).
# (operation nickname, parameter) -> (status, message) for a missing required parameter.
_MISSING: dict[tuple[str, str], tuple[int, str]] = {
    ("originate", "endpoint"): (400, "Endpoint must be specified"),
    ("originateWithId", "endpoint"): (400, "Endpoint must be specified"),
    ("getChannelVar", "variable"): (400, "Variable name is required"),
    ("setChannelVar", "variable"): (400, "Variable name is required"),
    ("getGlobalVar", "variable"): (400, "Variable name is required"),
    ("setGlobalVar", "variable"): (400, "Variable name is required"),
    ("play", "media"): (500, "Failed to queue media for playback"),
    ("playWithId", "media"): (500, "Failed to queue media for playback"),
    ("sendDTMF", "dtmf"): (400, "DTMF is required"),
    ("redirect", "endpoint"): (400, "Endpoint parameter not provided"),
}
# (operation nickname, parameter) -> message for a value outside allowableValues.
_INVALID: dict[tuple[str, str], str] = {
    ("hangup", "reason"): "Invalid reason for hangup provided",
    ("snoopChannel", "spy"): "Invalid direction specified for spy",
    ("snoopChannel", "whisper"): "Invalid direction specified for whisper",
    ("snoopChannelWithId", "spy"): "Invalid direction specified for spy",
    ("snoopChannelWithId", "whisper"): "Invalid direction specified for whisper",
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: str  # "path" | "query" | "body"
    required: bool
    multiple: bool
    allowed: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # "/channels/{channelId}/play"
    nickname: str
    params: tuple[Param, ...]
    response_class: str = "void"  # the model of a successful answer ("Channel", "List[Bridge]")


class RouteError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _operations_from_docs(folder: Path) -> list[dict[str, Any]]:
    """Flatten every resource file of a swagger 1.1 folder into plain operation records."""
    ops: list[dict[str, Any]] = []
    for file in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
        for api in doc.get("apis", []):
            for op in api.get("operations", []):
                params = []
                for p in op.get("parameters", []):
                    allowed = p.get("allowableValues") or {}
                    values = allowed.get("values") if allowed.get("valueType") == "LIST" else None
                    params.append(
                        [p["name"], p["paramType"], bool(p.get("required")),
                         bool(p.get("allowMultiple")), values]
                    )
                ops.append({"m": op["httpMethod"], "p": api["path"], "n": op["nickname"],
                            "a": params, "r": op.get("responseClass", "void")})
    return ops


def _models_from_docs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every model of the folder: its properties (type, required, allowed values), subtypes."""
    models: dict[str, dict[str, Any]] = {}
    for file in sorted(folder.glob("*.json")):
        for name, model in json.loads(file.read_text()).get("models", {}).items():
            props = {
                prop: {k: spec[k] for k in ("type", "required", "allowableValues") if k in spec}
                for prop, spec in model.get("properties", {}).items()
            }
            models[name] = {"properties": props}
            if model.get("subTypes"):
                models[name]["subTypes"] = model["subTypes"]
    return models


def schema_data(folder: Path) -> dict[str, Any]:
    """What ari_schema.json holds, made from a folder of ARI resource files."""
    resources = json.loads((folder / "resources.json").read_text())
    return {
        "apiVersion": resources.get("apiVersion"),
        "operations": _operations_from_docs(folder),
        "models": _models_from_docs(folder),
    }


@functools.cache
def packaged() -> dict[str, Any]:
    """The schema shipped in the package (ari_schema.json), read once."""
    data: dict[str, Any] = json.loads(RESOURCE.read_text())
    return data


class AriSchema:
    """Routes (method, path) to an operation and checks its parameters."""

    def __init__(self, records: list[dict[str, Any]], source: str) -> None:
        self.source = source
        self._by_len: dict[int, list[tuple[tuple[str, ...], dict[str, Operation]]]] = {}
        routes: dict[tuple[str, ...], dict[str, Operation]] = {}
        for r in records:
            params = tuple(
                Param(name, kind, req, multi, tuple(vals) if vals else None)
                for name, kind, req, multi, vals in r["a"]
            )
            segs = tuple(s for s in r["p"].split("/") if s)
            routes.setdefault(segs, {})[r["m"]] = Operation(r["m"], r["p"], r["n"], params,
                                                            r.get("r", "void"))
        for segs, methods in routes.items():
            self._by_len.setdefault(len(segs), []).append((segs, methods))
        if not routes:
            raise ValueError(f"{source}: no ARI operations found")

    @classmethod
    def load(cls, folder: Path | None = None) -> AriSchema:
        """The packaged schema, or the resource files of `folder`."""
        if folder is not None:
            return cls(_operations_from_docs(folder), str(folder))
        return cls(packaged()["operations"], RESOURCE.name)

    def resolve(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        """path is relative to /ari ("/channels/abc"). Raises RouteError as Asterisk answers."""
        if len(path) > 1 and path.endswith("/"):
            raise RouteError(404, f"ARI URLs do not end with a slash. Try /ari{path.rstrip('/')}")
        segs = tuple(s for s in path.split("/") if s)
        best: tuple[int, tuple[str, ...], dict[str, Operation]] | None = None
        for tmpl, methods in self._by_len.get(len(segs), []):
            literal = 0
            for t, s in zip(tmpl, segs, strict=True):
                if t.startswith("{"):
                    continue
                if t != s:
                    break
                literal += 1
            else:
                if best is None or literal > best[0]:
                    best = (literal, tmpl, methods)
        if best is None:
            raise RouteError(404, "Resource not found")
        _, tmpl, methods = best
        op = methods.get(method)
        if op is None:
            raise RouteError(405, "Invalid method")
        args = {t[1:-1]: s for t, s in zip(tmpl, segs, strict=True) if t.startswith("{")}
        return op, args

    @staticmethod
    def check(op: Operation, params: dict[str, Any]) -> RouteError | None:
        """Required parameters and allowableValues, with Asterisk's messages where known."""
        for p in op.params:
            value = params.get(p.name)
            if p.required and (value is None or value == ""):
                status, message = _MISSING.get((op.nickname, p.name),
                                               (400, f"Missing parameter {p.name}"))
                return RouteError(status, message)
            if value is None or p.allowed is None or not isinstance(value, str):
                continue
            values = value.split(",") if p.multiple else [value]
            for v in values:
                if v not in p.allowed:
                    message = _INVALID.get((op.nickname, p.name),
                                           f"Invalid value '{v}' for parameter {p.name}")
                    return RouteError(400, message)
        return None


_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,), "Date": (str,), "int": (int,), "long": (int,), "double": (int, float),
    "boolean": (bool,), "object": (dict,),
}


class ModelSchema:
    """The ARI data models (Channel, Bridge, the events...) of the resource files, to check that a
    JSON object has every required property, only known ones, and values of the declared type."""

    def __init__(self, models: dict[str, dict[str, Any]]) -> None:
        self.models = models
        parents = {sub: name for name, model in models.items()
                   for sub in model.get("subTypes", [])}  # fmt: skip
        self._props: dict[str, dict[str, dict[str, Any]]] = {}
        for name in self.models:
            props: dict[str, dict[str, Any]] = {}
            chain: str | None = name
            while chain is not None:
                props = {**self.models[chain].get("properties", {}), **props}
                chain = parents.get(chain)
            self._props[name] = props

    @classmethod
    def load(cls, folder: Path | None = None) -> ModelSchema:
        """The packaged models, or those of the resource files of `folder`."""
        return cls(_models_from_docs(folder) if folder is not None else packaged()["models"])

    def check_answer(self, body: Any, response_class: str, where: str) -> list[str]:
        """Problems of a successful REST answer against its operation's responseClass."""
        name = response_class[5:-1] if response_class.startswith("List[") else response_class
        if name not in self._props:
            return []  # void, or a scalar/free-form answer
        return self._check_type(body, response_class, {}, where)

    def problems(self, value: dict[str, Any], model: str | None = None,
                 where: str = "") -> list[str]:
        model = model or value.get("type")
        if model not in self._props:
            return [f"{where or 'event'}: unknown model {model!r}"]
        props = self._props[model]
        out = [f"{where}{model}: missing {name}" for name, p in props.items()
               if p.get("required") and name not in value]
        for key, item in value.items():
            spec = props.get(key)
            if spec is None:
                out.append(f"{where}{model}: unknown property {key}")
                continue
            out += self._check_type(item, spec["type"], spec, f"{where}{model}.{key}")
        return out

    def _check_type(self, item: Any, type_: str, spec: dict[str, Any], where: str) -> list[str]:
        if type_.startswith("List[") and type_.endswith("]"):
            if not isinstance(item, list):
                return [f"{where}: expected a list"]
            return [p for element in item for p in self._check_type(element, type_[5:-1], {},
                                                                    where)]
        if type_ in self._props:
            if not isinstance(item, dict):
                return [f"{where}: expected {type_}"]
            return self.problems(item, type_, f"{where} -> ")
        allowed = _SCALARS.get(type_)
        if allowed is not None and (not isinstance(item, allowed) or
                                    (type_ in ("int", "long") and isinstance(item, bool))):
            return [f"{where}: expected {type_}, got {type(item).__name__}"]
        values = (spec.get("allowableValues") or {}).get("values")
        if values and item not in values:
            return [f"{where}: {item!r} is not one of {values}"]
        return []
