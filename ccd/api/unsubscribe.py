"""One-click unsubscribe (RFC 8058) for mailing messages: `/u/{token}`.

GET shows a page with one button (link scanners and previews GET links: a GET changes
nothing); POST, from that button or from the mail client's one-click
(`List-Unsubscribe=One-Click`), records an opt-out of the message's channel for the
mailing's purpose, with the request as its proof. No login: the token is the credential.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from ccd.log import get_logger
from ccd.mailing import tokens
from ccd.store.contacts import record_consent

log = get_logger(__name__)

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body), status=status,
        content_type="text/html",
    )  # fmt: skip


class UnsubscribeApi:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/u/{token}", self.confirm_page)
        app.router.add_post("/u/{token}", self.unsubscribe)

    async def _message(self, token: str) -> asyncpg.Record | None:
        """The message the token was signed for; None for a token that is not valid."""
        mid = tokens.message_id(token) if len(token) <= 64 else None
        if mid is None:
            return None
        row = await self._pool.fetchrow(
            "SELECT mm.id, mm.contact_id, mm.channel, m.purpose, m.name AS mailing,"
            " m.unsubscribe_key FROM mailing_messages mm JOIN mailings m ON m.id = mm.mailing_id"
            " WHERE mm.id = $1",
            mid,
        )
        if row is None or not tokens.valid(row["unsubscribe_key"], token):
            return None
        return row

    async def confirm_page(self, request: web.Request) -> web.Response:
        msg = await self._message(request.match_info["token"])
        if msg is None:
            return _page("Link not valid", "<p>This unsubscribe link is not known.</p>", 404)
        return _page(
            "Unsubscribe",
            f"<p>Stop receiving these messages by {html.escape(msg['channel'])}?</p>"
            '<form method="post"><button type="submit" name="List-Unsubscribe"'
            ' value="One-Click">Unsubscribe</button></form>',
        )

    async def unsubscribe(self, request: web.Request) -> web.Response:
        msg = await self._message(request.match_info["token"])
        if msg is None:
            return _page("Link not valid", "<p>This unsubscribe link is not known.</p>", 404)
        body = (await request.content.read(1024)).decode("utf-8", "replace")
        proof = {
            "message_id": str(msg["id"]), "mailing": msg["mailing"], "request": "POST",
            "body": body, "one_click": body.strip() == "List-Unsubscribe=One-Click",
            "remote": request.remote, "user_agent": request.headers.get("User-Agent", "")[:300],
            "at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            # One opt-out per message's link: a second click adds nothing.
            done = await conn.fetchval(
                "SELECT 1 FROM consent_events WHERE contact_id = $1 AND status = 'opt_out'"
                " AND method = 'unsubscribe_link' AND proof ->> 'message_id' = $2",
                msg["contact_id"], str(msg["id"]),
            )  # fmt: skip
            if not done:
                await record_consent(conn, msg["contact_id"], [msg["channel"]], msg["purpose"],
                                     "opt_out", "unsubscribe_link", proof)  # fmt: skip
        log.info("mailing.unsubscribed", message_id=msg["id"], contact_id=msg["contact_id"],
                 channel=msg["channel"], one_click=proof["one_click"])  # fmt: skip
        return _page("Unsubscribed", "<p>You will not get these messages any more.</p>")
