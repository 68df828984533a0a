"""Call recordings for supervisors and admins (agents get 403): list, look at, play, download.

    GET /api/recordings?campaign=spring&agent_id=3&date=2026-12-03&disposition=END&limit=100
    GET /api/recordings/{name}              one recording, with its paused intervals (gaps)
    GET /api/recordings/{name}/file         the audio, streamed from its Asterisk node
                                            (GET /recordings/stored/{name}/file); ?download=1
                                            makes it an attachment

The file stays on the Asterisk host; ccd streams it through. Every play and download is
written to recording_access (who, which, when) before the first byte goes out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ccd.api.auth import Int4Id, error, principal, query_model, require_role
from ccd.api.live import to_json
from ccd.log import get_logger
from ccd.store import recordings as store
from ccd.telephony.pbx import AriNotFound, Pbx, PbxError

log = get_logger(__name__)

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}"


class RecordingQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    campaign: str | None = Field(default=None, min_length=1, max_length=100)
    agent_id: Int4Id | None = None
    date: dt.date | None = None
    disposition: str | None = Field(default=None, pattern=r"^[A-Z_]{1,20}$")
    limit: int = Field(default=100, ge=1, le=1000)


def _json(r: asyncpg.Record) -> dict[str, Any]:
    out = {k: to_json(v) for k, v in dict(r).items()}
    out["duration_s"] = float(r["duration_s"]) if r["duration_s"] is not None else None
    out["file_url"] = f"/api/recordings/{r['name']}/file"
    return out


class RecordingsApi:
    def __init__(self, pool: asyncpg.Pool, pbx: Pbx) -> None:
        self._pool = pool
        self._pbx = pbx

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/recordings", self.search)
        app.router.add_get(f"/api/recordings/{{name:{_NAME}}}", self.get)
        app.router.add_get(f"/api/recordings/{{name:{_NAME}}}/file", self.file)

    @require_role("supervisor", "admin")
    async def search(self, request: web.Request) -> web.Response:
        q = query_model(request, RecordingQuery)
        rows = await store.search(
            self._pool,
            store.Filter(q.campaign, q.agent_id, q.date, q.disposition, q.limit),
        )
        return web.json_response({"recordings": [_json(r) for r in rows]})

    @require_role("supervisor", "admin")
    async def get(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        row = await store.get(self._pool, name)
        if row is None:
            raise error(404, "no such recording")
        return web.json_response({**_json(row), "gaps": await store.gaps(self._pool, name)})

    @require_role("supervisor", "admin")
    async def file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        download = request.query.get("download") in ("1", "true")
        row = await store.get(self._pool, name)
        if row is None:
            raise error(404, "no such recording")
        if row["state"] in ("pruned", "missing"):
            raise error(410, f"the recording's file is gone ({row['state']})")
        if row["state"] == "recording":
            raise error(409, "the call is still being recorded")
        p = principal(request)
        try:
            async with self._pbx.stored_file(name, node=row["node"]) as f:
                action = "download" if download else "play"
                await store.accessed(self._pool, name, p.user_id, p.login, action)
                log.info("recording.accessed", name=name, login=p.login, action=action)
                resp = web.StreamResponse()
                resp.content_type = f.content_type
                if f.size is not None:
                    resp.content_length = f.size
                disposition = "attachment" if download else "inline"
                resp.headers["Content-Disposition"] = (
                    f'{disposition}; filename="{name}.{row["format"]}"'
                )
                resp.headers["Cache-Control"] = "private, no-store"
                await resp.prepare(request)
                async for chunk in f.chunks:
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
        except AriNotFound:
            raise error(404, "the Asterisk node no longer has this recording") from None
        except PbxError as exc:
            raise error(502, f"the Asterisk node did not serve the file: {exc}") from None
