"""Consent links in mailing messages: one-click unsubscribe (RFC 8058) at `/u/{token}`, and
the double opt-in confirmation at `/c/{token}`.

GET shows a page with one button (link scanners and previews GET links: a GET changes
nothing); POST, from that button or from the mail client's one-click
(`List-Unsubscribe=One-Click`), records an opt-out (or, for a confirmation, an opt-in) of the
message's channel for the mailing's purpose, with the request as its proof. No login: the
token, the message id signed with its mailing's key, is the credential.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import asyncpg
from aiohttp import web

from ccd.api.auth import public
from ccd.log import get_logger
from ccd.messaging import tokens
from ccd.store.contacts import record_consent

log = get_logger(__name__)

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_PAGE.format(title=html.escape(title), body=body), status=status,
        content_type="text/html",
    )  # fmt: skip


@dataclass(frozen=True)
class _Link:
    kind: str  # tokens.UNSUBSCRIBE | tokens.CONFIRM
    status: str  # the consent the POST records
    method: str
    title: str
    question: str
    button: str
    done: str


_UNSUBSCRIBE = _Link(
    tokens.UNSUBSCRIBE, "opt_out", "unsubscribe_link", "Unsubscribe",
    "Stop receiving these messages by {channel}?", "Unsubscribe",
    "You will not get these messages any more.",
)  # fmt: skip
_CONFIRM = _Link(
    tokens.CONFIRM, "opt_in", "confirmation", "Confirm",
    "Do you want to receive our messages by {channel}?", "Yes, I agree",
    "Thank you: your agreement is recorded.",
)  # fmt: skip


class UnsubscribeApi:
    """`/u/{token}`: unsubscribe (RFC 8058 one-click); `/c/{token}`: confirm a double opt-in."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def add_routes(self, app: web.Application) -> None:
        for prefix, link in (("u", _UNSUBSCRIBE), ("c", _CONFIRM)):
            app.router.add_get(f"/{prefix}/{{token}}", public(partial(self.page, link)))
            app.router.add_post(f"/{prefix}/{{token}}", public(partial(self.record, link)))

    async def _message(self, token: str, link: _Link) -> asyncpg.Record | None:
        """The message the token was signed for; None for a token that is not valid."""
        mid = tokens.message_id(token) if len(token) <= 64 else None
        if mid is None:
            return None
        row = await self._pool.fetchrow(
            "SELECT mm.id, mm.contact_id, mm.channel, mm.kind, m.purpose, m.name AS mailing,"
            " m.unsubscribe_key FROM mailing_messages mm JOIN mailings m ON m.id = mm.mailing_id"
            " WHERE mm.id = $1",
            mid,
        )
        if row is None or not tokens.valid(row["unsubscribe_key"], token, link.kind):
            return None
        if link is _CONFIRM and row["kind"] != "confirmation":
            return None
        return row

    async def page(self, link: _Link, request: web.Request) -> web.Response:
        msg = await self._message(request.match_info["token"], link)
        if msg is None:
            return _page("Link not valid", "<p>This link is not known.</p>", 404)
        question = html.escape(link.question.format(channel=msg["channel"]))
        return _page(
            link.title,
            f'<p>{question}</p><form method="post"><button type="submit"'
            ' name="List-Unsubscribe" value="One-Click">'
            f"{html.escape(link.button)}</button></form>",
        )

    async def record(self, link: _Link, request: web.Request) -> web.Response:
        msg = await self._message(request.match_info["token"], link)
        if msg is None:
            return _page("Link not valid", "<p>This link is not known.</p>", 404)
        body = (await request.content.read(1024)).decode("utf-8", "replace")
        proof = {
            "message_id": str(msg["id"]), "mailing": msg["mailing"], "request": "POST",
            "body": body, "one_click": body.strip() == "List-Unsubscribe=One-Click",
            "remote": request.remote, "user_agent": request.headers.get("User-Agent", "")[:300],
            "at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        async with self._pool.acquire() as conn, conn.transaction():
            # One row per message's link: a second click adds nothing.
            done = await conn.fetchval(
                "SELECT 1 FROM consent_events WHERE contact_id = $1 AND status = $2"
                " AND method = $3 AND proof ->> 'message_id' = $4",
                msg["contact_id"], link.status, link.method, str(msg["id"]),
            )  # fmt: skip
            if not done:
                await record_consent(conn, msg["contact_id"], [msg["channel"]], msg["purpose"],
                                     link.status, link.method, proof)  # fmt: skip
        log.info("mailing.consent_link", message_id=msg["id"], contact_id=msg["contact_id"],
                 channel=msg["channel"], status=link.status,
                 one_click=proof["one_click"])  # fmt: skip
        return _page(link.title, f"<p>{html.escape(link.done)}</p>")
