"""Writes that must outlive a database restart: retried until PostgreSQL answers again.

Used for what only memory knows once a call is over (its end, its disposition): losing the
write would leave the attempt unended, and the reconciler would later take a talked call for a
lost one and dial the customer again. What follows the write (the agent moving on) does not
wait for a database that is down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from ccd.log import get_logger
from ccd.telephony.backoff import backoff_delay

log = get_logger(__name__)
T = TypeVar("T")

# "The database is not answering now" (restart, failover, network), as opposed to "this
# statement is wrong", which no retry fixes: connection loss, pg_terminate_backend / shutdown
# (57P01-57P03), a database not accepting connections (55000), and asyncpg's own state error
# on a connection cut in the middle of a query ("cannot switch to state ...").
DB_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
)
RETRY_INITIAL_S = 0.1
RETRY_MAX_S = 5.0


async def write_then(
    write: Callable[[], Awaitable[object]],
    then: Callable[[], Awaitable[None]],
    what: str,
    **fields: object,
) -> None:
    """`write`, then `then`. When the database does not answer, `then` runs at once and the
    write is retried until it does (the caller returns only once it is written)."""
    try:
        await write()
    except DB_UNAVAILABLE as exc:
        log.warning("db.write_deferred", what=what, error=repr(exc), **fields)
        await then()
        await until_written(write, what, **fields)
        return
    await then()


async def until_written(write: Callable[[], Awaitable[T]], what: str, **fields: object) -> T:
    """Run `write` until it does not fail with DB_UNAVAILABLE; waits double up to
    RETRY_MAX_S."""
    attempt = 0
    while True:
        try:
            result = await write()
        except DB_UNAVAILABLE as exc:
            delay = backoff_delay(attempt, RETRY_INITIAL_S, RETRY_MAX_S)
            log.warning(
                "db.write_retry", what=what, attempt=attempt + 1, retry_in_s=round(delay, 2),
                error=repr(exc), **fields,
            )  # fmt: skip
            attempt += 1
            await asyncio.sleep(delay)
            continue
        if attempt:
            log.info("db.write_recovered", what=what, attempts=attempt + 1, **fields)
        return result
