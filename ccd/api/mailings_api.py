"""GET /api/mailings (supervisors): every mailing that is not a draft, with its progress per
segment and channel from the mailing_report view; the console's mailings table polls it."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg
from aiohttp import web

from ccd.api.auth import require_role

_SQL = """
SELECT m.id, m.name, m.purpose, m.status, r.segment, r.channel, r.planned, r.sent,
       r.delivered, r.failed, r.unknown, r.left_out, r.opted_out, r.expired, r.parts, r.replies
FROM mailings m LEFT JOIN mailing_report r ON r.mailing = m.name
WHERE m.status <> 'draft'
ORDER BY m.id DESC, r.segment NULLS LAST, r.channel NULLS LAST
LIMIT 500
"""
_COUNTS = ("planned", "sent", "delivered", "failed", "unknown", "left_out", "opted_out",
           "expired", "parts", "replies")  # fmt: skip


class MailingsApi:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/mailings", self.mailings)

    @require_role("supervisor", "admin")
    async def mailings(self, request: web.Request) -> web.Response:
        by_id: dict[int, dict[str, Any]] = {}
        rows: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in await self._pool.fetch(_SQL):
            by_id.setdefault(r["id"], {"id": r["id"], "name": r["name"],
                                       "purpose": r["purpose"], "status": r["status"]})  # fmt: skip
            if r["planned"] is not None:
                rows[r["id"]].append(
                    {
                        "segment": r["segment"],
                        "channel": r["channel"],
                        **{k: r[k] for k in _COUNTS},
                    }  # fmt: skip
                )
        return web.json_response(
            {"mailings": [{**m, "rows": rows[mid]} for mid, m in by_id.items()]}
        )
