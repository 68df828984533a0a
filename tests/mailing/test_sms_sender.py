"""The mailing engine with the SMS channel against the SMSC double on loopback: a receipt
that comes before the submit_sm_resp (so before the engine has stored `sent`) still settles
the message, and a late report never overrides a message that is not `sent`."""

from __future__ import annotations

import uuid
from datetime import time

import asyncpg

from ccd.messaging.channel import StatusReport
from ccd.messaging.sender import MailingService
from ccd.messaging.sms.channel import SmsChannel
from ccd.messaging.sms.receipts import DeliveryState
from ccd.messaging.spec import MailingSpec
from ccd.sim.smsc.double import ReceiptRule, SmscDouble
from ccd.store import mailings as store
from tests.dialer.conftest import eventually
from tests.sms.conftest import link, smsc

__all__ = ["smsc"]  # the SMSC double fixture, shared with tests/sms

SPEC = MailingSpec.model_validate({"variants": [{"channels": ["sms"], "templates": {"sms": {
    "text": {"default": "Привет, {first_name}! " * 12}, "fallback": "Привет!"}}}]})  # fmt: skip


async def _false(_instance: str) -> bool:
    return False


async def test_receipts_before_their_resp_settle_the_messages(
    pool: asyncpg.Pool, db_url: str, smsc: SmscDouble
) -> None:
    smsc.rules[""] = ReceiptRule(DeliveryState.DELIVERED, before_resp=True)
    await pool.execute(
        "INSERT INTO contacts (phone, first_name)"
        " SELECT '+7916555' || lpad(g::text, 4, '0'), 'P' || g FROM generate_series(1, 12) g"
    )
    async with pool.acquire() as conn:
        await store.create_mailing(conn, "n", "service", SPEC, hours=(time(0), time.max))
        await store.set_status(conn, "n", "running")
    sms = SmsChannel([link(smsc.port)], sweep_every=0.05)
    svc = MailingService(
        pool, db_url, {"sms": sms}, instance_id=str(uuid.uuid4()), alive=_false,
        public_url="http://ccd.example", resync_s=0.2, idle_s=0.05,
    )  # fmt: skip
    await svc.start()
    try:

        async def settled() -> bool:
            return await pool.fetchval(
                "SELECT count(*) FROM mailing_messages WHERE state = 'delivered'"
            ) == 12  # fmt: skip

        await eventually(settled, 15, "12 messages delivered")
        (row,) = await pool.fetch("SELECT DISTINCT parts FROM mailing_messages")
        assert row["parts"] == 3
        assert len(smsc.submits) == 36
        # A report for a message that is not `sent` changes nothing.
        mid = await pool.fetchval("SELECT min(id) FROM mailing_messages")
        await pool.execute("UPDATE mailing_messages SET state = 'unknown' WHERE id = $1", mid)
        assert not await store.record_report(pool, mid, "delivered", None)
        await svc._on_status(StatusReport(mid, "delivered"))  # noqa: SLF001 - the listener
        assert await pool.fetchval(
            "SELECT state FROM mailing_messages WHERE id = $1", mid
        ) == "unknown"  # fmt: skip
    finally:
        await svc.stop()
