"""The OpenAPI 3 description of the HTTP API (openapi.yaml in the package), served as it is,
and the two sets a test compares: operations the document describes, operations the app routes.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from ccd.api.auth import public

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
_METHODS = {"get", "post", "put", "patch", "delete"}


@cache
def spec_text() -> str:
    return SPEC_PATH.read_text(encoding="utf-8")


def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(spec_text())  # the shipped file: a mapping
    return spec


@public
async def _openapi(request: web.Request) -> web.Response:
    return web.Response(text=spec_text(), content_type="application/yaml")


def add_openapi_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.yaml", _openapi)


def documented_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in _METHODS
    }


def routed_operations(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route, with `{id:\\d+}` written `{id}`, static dirs as
    `<prefix>/{filename}`, and the HEAD twins of GET routes left out."""
    ops: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        if isinstance(resource, web.StaticResource):
            ops.add(("GET", resource.canonical + "/{filename}"))
            continue
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", resource.canonical)
        ops.add((route.method, path))
    return ops
