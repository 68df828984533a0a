"""The mailing engine inside the daemon: one runner per running mailing.

A runner plans its mailing once (store rows, see planner), then claims small batches of due
messages (marked `sending` by this instance in the database before any send) and hands
them to their channel. Pause and stop arrive by NOTIFY (and a periodic re-read): the runner
checks before each message, so sending stops within one send; claimed messages not yet
handed over go back to `planned`. A message is stamped `sending_at`, committed, right before
its channel gets it: of the messages a dead instance left in `sending`, the stamped ones are
settled as `unknown` at start and on every re-read, never sent again; the others never left
and are planned again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from ccd.log import get_logger
from ccd.messaging import tokens
from ccd.messaging.channel import Channel, OutboundMessage, Outcome, SendResult, StatusReport
from ccd.messaging.planner import CONFIRM_URL, plan
from ccd.store import mailings as store

log = get_logger(__name__)


class MailingService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        db_url: str,
        channels: Mapping[str, Channel],
        *,
        instance_id: str,
        alive: Callable[[str], Awaitable[bool]],
        public_url: str,
        cap_days: int = 14,
        batch: int = 50,
        resync_s: float = 2.0,
        idle_s: float = 0.5,
        concurrency: int = 8,
    ) -> None:
        self._pool = pool
        self._db_url = db_url
        self.channels = dict(channels)
        self.instance = instance_id
        self._alive = alive
        self.public_url = public_url
        self._cap_days = cap_days
        self._batch = batch
        self._resync_s = resync_s
        self._idle_s = idle_s
        self._concurrency = concurrency
        self._runners: dict[int, asyncio.Task[None]] = {}
        # Messages handed to a channel whose result is not recorded yet, with the reports
        # that came meanwhile (an SMS receipt can beat its submit_sm_resp): applied after.
        self._in_flight: dict[int, list[StatusReport]] = {}
        self._stop_flags: dict[int, asyncio.Event] = {}
        self._changes: asyncio.Queue[int | None] = asyncio.Queue()
        self._listen: asyncpg.Connection | None = None
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for channel in self.channels.values():
            await channel.start(self._on_status)
        settled = await store.settle_orphans(self._pool, self._alive, self.instance)
        if settled:
            log.warning("mailing.unknown_settled", messages=settled)
        await self._connect_listener()
        self._loop = asyncio.create_task(self._follow())
        self._changes.put_nowait(None)
        log.info("mailing.service_started", channels=sorted(self.channels))

    async def _connect_listener(self) -> None:
        self._listen = await asyncpg.connect(self._db_url)
        await self._listen.add_listener(store.MAILING_CHANNEL, self._on_notify)

    def _on_notify(self, _c: object, _pid: int, _ch: str, payload: object) -> None:
        try:
            self._changes.put_nowait(int(json.loads(str(payload))["id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("mailing.bad_notify", payload=payload)

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._resync_s):
                    await self._changes.get()
            try:
                if self._listen is None or self._listen.is_closed():
                    await self._connect_listener()
                await self._apply()
            except Exception:  # noqa: BLE001 - the follower must outlive a database hiccup
                log.exception("mailing.follow_failed")

    async def _apply(self) -> None:
        running = {
            r["id"]
            for r in await self._pool.fetch("SELECT id FROM mailings WHERE status = 'running'")
        }
        for mid in running - set(self._runners):
            self._stop_flags[mid] = flag = asyncio.Event()
            self._runners[mid] = asyncio.create_task(self._run(mid, flag))
        for mid in set(self._runners) - running:
            self._stop_flags[mid].set()
        await store.settle_orphans(self._pool, self._alive, self.instance)

    async def _run(self, mailing_id: int, stop: asyncio.Event) -> None:
        try:
            await plan(self._pool, mailing_id, self._cap_days)
            mailing = await store.load_mailing(self._pool, mailing_id)
            cap = mailing.cap_days if mailing.cap_days is not None else self._cap_days
            while not stop.is_set():
                async with self._pool.acquire() as conn:
                    claimed = await store.claim(conn, mailing, self.instance, self._batch, cap)
                if not claimed:
                    if await self._finished(mailing_id):
                        break
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._idle_s):
                            await stop.wait()
                    continue
                await self._send_batch(mailing_id, claimed, stop)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one mailing's failure must not end the others
            log.exception("mailing.runner_failed", mailing_id=mailing_id)
        finally:
            self._runners.pop(mailing_id, None)
            self._stop_flags.pop(mailing_id, None)

    async def _send_batch(
        self, mailing_id: int, claimed: list[store.Claimed], stop: asyncio.Event
    ) -> None:
        """Up to `concurrency` sends at once; a pause leaves the rest unsent (planned again)."""
        slots = asyncio.Semaphore(self._concurrency)
        released: list[int] = []

        async def one(msg: store.Claimed) -> None:
            async with slots:
                if stop.is_set():
                    released.append(msg.id)
                    return
                await self._send(msg)

        await asyncio.gather(*(one(m) for m in claimed))
        if released:
            await store.release(self._pool, released)
            log.info("mailing.paused_batch", mailing_id=mailing_id, released=len(released))

    async def _finished(self, mailing_id: int) -> bool:
        """No message left to send or in flight: the mailing is completed."""
        async with self._pool.acquire() as conn, conn.transaction():
            left = await conn.fetchval(
                "SELECT count(*) FROM mailing_messages WHERE mailing_id = $1"
                " AND state IN ('planned', 'sending')",
                mailing_id,
            )
            if left:
                return False
            done = await conn.fetchval(
                "UPDATE mailings SET status = 'completed', updated_at = now()"
                " WHERE id = $1 AND status = 'running' RETURNING id",
                mailing_id,
            )
        if done:
            log.info("mailing.completed", mailing_id=mailing_id)
        return True

    async def _send(self, claimed: store.Claimed) -> None:
        row = await store.hand_over(self._pool, claimed.id)
        if row is None:  # no longer ours: settled meanwhile by another instance
            log.warning("mailing.claim_lost", message_id=claimed.id)
            return
        channel = self.channels.get(claimed.channel)
        if channel is None:
            result = SendResult(Outcome.FAILED, reason=f"no {claimed.channel} channel configured")
        else:
            base, key = self.public_url.rstrip("/"), row["unsubscribe_key"]
            body = row["body"] or ""
            if claimed.kind == "confirmation":
                confirm = tokens.make(key, claimed.id, tokens.CONFIRM)
                body = body.replace(CONFIRM_URL, f"{base}/c/{confirm}")
            message = OutboundMessage(
                claimed.id, claimed.channel, claimed.address, body, row["subject"],
                unsubscribe_url=f"{base}/u/{tokens.make(key, claimed.id)}",
                attempt=claimed.attempt,
            )  # fmt: skip
            self._in_flight[claimed.id] = []
            try:
                result = await channel.send(message)
            except Exception as exc:  # noqa: BLE001 - a channel bug: the message may have gone
                log.exception("mailing.channel_crashed", message_id=claimed.id)
                result = SendResult(Outcome.UNKNOWN, reason=f"channel error: {exc}")
        try:
            await self._record(claimed, result)
        finally:
            for report in self._in_flight.pop(claimed.id, []):
                await self._apply_report(report)

    async def _record(self, claimed: store.Claimed, result: SendResult) -> None:
        """The result, the cap row given back when nothing reached the person, and a bounced
        address, in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            if result.bad_address and claimed.channel == "email":
                await conn.execute(
                    "UPDATE contacts SET email_bad_at = now() WHERE email = $1", claimed.address
                )
            if result.outcome in (Outcome.RETRY, Outcome.FAILED):
                await store.release_cap(conn, claimed.id)
            if result.outcome is Outcome.RETRY:
                await store.record_result(
                    conn, claimed.id, "planned", reason=result.reason,
                    retry_after_s=result.retry_after_s, provider_id=result.provider_id,
                )  # fmt: skip
            else:
                await store.record_result(
                    conn, claimed.id, result.outcome.value, provider_id=result.provider_id,
                    reason=result.reason, pages=result.pages, parts=result.parts,
                )  # fmt: skip
        log.info("mailing.message", message_id=claimed.id, channel=claimed.channel,
                 outcome=result.outcome.value, reason=result.reason)  # fmt: skip

    async def _on_status(self, report: StatusReport) -> None:
        parked = self._in_flight.get(report.message_id)
        if parked is not None:
            parked.append(report)
            return
        await self._apply_report(report)

    async def _apply_report(self, report: StatusReport) -> None:
        if await store.record_report(self._pool, report.message_id, report.state, report.reason):
            log.info("mailing.report", message_id=report.message_id, state=report.state,
                     reason=report.reason)  # fmt: skip
        else:
            log.info("mailing.report_ignored", message_id=report.message_id, state=report.state)

    async def stop(self) -> None:
        for flag in self._stop_flags.values():
            flag.set()
        tasks = list(self._runners.values())
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._listen is not None:
            await self._listen.close()
        for channel in self.channels.values():
            await channel.close()
