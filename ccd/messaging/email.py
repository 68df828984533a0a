"""The email channel: SMTP (aiosmtplib) over one or more relays, each with a pool of
connections and a rate limit. Multipart plain + HTML, with `List-Unsubscribe` and RFC 8058
`List-Unsubscribe-Post` so that mail clients offer a one-click unsubscribe."""

from __future__ import annotations

import asyncio
import html
import itertools
import time
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, make_msgid, parseaddr

import aiosmtplib

from ccd.config import SmtpRelay
from ccd.log import get_logger
from ccd.messaging.channel import OutboundMessage, Outcome, SendResult, StatusListener

log = get_logger(__name__)


def build_email(message: OutboundMessage, sender: str) -> MIMEMultipart:
    """multipart/alternative, plain then HTML. The email.mime classes with the compat32
    policy and headers encoded here cost a tenth of EmailMessage with the modern policy,
    whose header parsing would be most of the channel's time at hundreds of messages a
    second."""
    mail = MIMEMultipart("alternative")
    name, address = parseaddr(sender)
    mail["From"] = formataddr((name, address), "utf-8")
    mail["To"] = message.address
    mail["Subject"] = _header(message.subject or "")
    mail["Message-ID"] = make_msgid(idstring=f"ccd{message.message_id}")
    text = message.body
    body_html = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text += f"\n\n--\nUnsubscribe: {message.unsubscribe_url}\n"
        url = html.escape(message.unsubscribe_url, quote=True)
        body_html += f'<p style="font-size:small"><a href="{url}">Unsubscribe</a></p>'
    mail.attach(MIMEText(text, "plain", "utf-8"))
    mail.attach(MIMEText(f"<html><body>{body_html}</body></html>", "html", "utf-8"))
    return mail


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


class _Rate:
    """At most `per_s` sends a second (a simple spacing of start times)."""

    def __init__(self, per_s: float) -> None:
        self._gap = 1.0 / per_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self._gap


class _Relay:
    def __init__(self, cfg: SmtpRelay) -> None:
        self.cfg = cfg
        self.rate = _Rate(cfg.rate_per_s)
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(cfg.connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.cfg
        smtp = aiosmtplib.SMTP(
            hostname=c.host, port=c.port, use_tls=c.tls, start_tls=c.starttls, timeout=30,
            cert_bundle=str(c.ca_file) if c.ca_file else None,
        )  # fmt: skip
        await smtp.connect()
        if c.username:
            await smtp.login(c.username, c.password)
        return smtp

    async def send(self, mail: MIMEMultipart) -> SendResult:
        async with self._slots:
            await self.rate.wait()
            smtp = self._idle.get_nowait() if not self._idle.empty() else None
            try:
                if smtp is None or not smtp.is_connected:
                    smtp = await self._connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                return SendResult(Outcome.RETRY, reason=f"relay {self.cfg.host}: {exc}")
            try:
                await smtp.send_message(mail)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._idle.put_nowait(smtp)
                return _refused(exc.recipients[0] if exc.recipients else None)
            except aiosmtplib.SMTPResponseException as exc:
                self._idle.put_nowait(smtp)
                return _reply(exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError) as exc:
                # The link broke after the message may have been accepted: never re-sent.
                return SendResult(Outcome.UNKNOWN, reason=f"relay {self.cfg.host}: {exc}")
            self._idle.put_nowait(smtp)
            return SendResult(Outcome.SENT, provider_id=str(mail["Message-ID"]))

    async def close(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (aiosmtplib.SMTPException, OSError):
                    smtp.close()


def _refused(exc: aiosmtplib.SMTPRecipientRefused | None) -> SendResult:
    if exc is None:
        return SendResult(Outcome.FAILED, reason="recipient refused")
    return _reply(exc.code, exc.message)


def _reply(code: int, text: str) -> SendResult:
    reason = f"SMTP {code} {text}".strip()
    if 400 <= code < 500:
        return SendResult(Outcome.RETRY, reason=reason)
    # 5xx to RCPT or DATA: the address (or the message) is refused for good.
    return SendResult(Outcome.FAILED, reason=reason, bad_address=code in (550, 551, 553))


class EmailChannel:
    name = "email"

    def __init__(self, relays: list[SmtpRelay], sender: str) -> None:
        if not relays:
            raise ValueError("the email channel needs at least one SMTP relay")
        self._relays = [_Relay(r) for r in relays]
        self._next = itertools.cycle(self._relays)
        self._sender = sender

    async def start(self, on_status: StatusListener) -> None:
        """SMTP has no delivery reports to wait for: nothing to start."""

    async def send(self, message: OutboundMessage) -> SendResult:
        return await next(self._next).send(build_email(message, self._sender))

    async def close(self) -> None:
        for relay in self._relays:
            await relay.close()
