"""The fax channel against the Asterisk double on loopback, through the engine's own Pbx,
router and trunk table (real PostgreSQL for trunks and routes): the answered call is continued
into [ccd-fax], and what SendFAX() left on the channel decides the message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from ccd.config import FaxSettings
from ccd.dialer.daemon import Engine
from ccd.messaging.channel import OutboundMessage, Outcome, SendResult, StatusReport
from ccd.messaging.fax import FaxChannel
from ccd.sim.asterisk import AsteriskDouble
from ccd.sim.asterisk.farend import FarEnd
from tests.dialer.conftest import EngineFactory, eventually
from tests.dialer.helpers import add_trunk
from tests.fax.documents import write_tiff

Send = Callable[[str], Awaitable[SendResult]]


async def _ignore(_report: StatusReport) -> None:
    raise AssertionError("a fax reports its result from send(), never later")


@pytest.fixture
async def fax(
    pool: asyncpg.Pool, make_engine: EngineFactory, tmp_path: Path
) -> AsyncIterator[tuple[FaxChannel, Engine]]:
    engine = await make_engine()
    cfg = FaxSettings(spool_dir=tmp_path / "spool", caller_id="+74950000000", station_id="CCD",
                      retry_busy_s=600, max_attempts=2)  # fmt: skip
    channel = FaxChannel(cfg, engine.pbx, engine.trunks, pool)
    engine.router.add_handler(channel.owns, channel)
    await channel.start(_ignore)
    yield channel, engine
    await channel.close()


@pytest.fixture
def send(fax: tuple[FaxChannel, Engine], tmp_path: Path) -> Send:
    document = write_tiff(tmp_path / "notice.tif", 3)
    ids = iter(range(1, 1000))

    async def one(number: str, attempt: int = 1) -> SendResult:
        return await fax[0].send(OutboundMessage(next(ids), "fax", number, str(document),
                                                 attempt=attempt))  # fmt: skip

    return one


async def test_a_fax_machine_takes_every_page(
    pool: asyncpg.Pool, double: AsteriskDouble, send: Send, fax: tuple[FaxChannel, Engine]
) -> None:
    await add_trunk(pool, max_channels=5)
    double.program("+74951000001", FarEnd.fax(after=2, tone="CED"))
    result = await send("+74951000001")
    assert (result.outcome, result.pages) == (Outcome.DELIVERED, 3)
    assert result.provider_id is not None and result.provider_id.startswith("fax-1-")
    (originate,) = [r for r in double.requests if (r.method, r.path) == ("POST", "/ari/channels")]
    assert originate.query["channelId"] == result.provider_id
    assert originate.query["endpoint"] == "PJSIP/+74951000001@city-trunk"
    assert originate.query["app"] == "ccd" and originate.query["callerId"] == "+74950000000"
    variables = originate.body["variables"]
    assert variables["CCD_FAX_STATION"] == "CCD"
    spooled = Path(variables["CCD_FAX_FILE"])
    assert spooled.parent == fax[0].cfg.spool_dir and await asyncio.to_thread(spooled.exists)
    (cont,) = [r for r in double.requests if r.path.endswith("/continue")]
    assert cont.path == f"/ari/channels/{result.provider_id}/continue"
    assert (cont.query["context"], cont.query["extension"]) == ("ccd-fax", "s")
    assert fax[1].trunks.free_total() == 5  # the channel went back


async def test_a_failing_fax_fails_with_faxerror(
    pool: asyncpg.Pool, double: AsteriskDouble, send: Send
) -> None:
    await add_trunk(pool)
    double.program("+74951000002", FarEnd.fax(error="Disconnected after permitted retries",
                                              pages=1))  # fmt: skip
    result = await send("+74951000002")
    assert (result.outcome, result.pages) == (Outcome.FAILED, 1)
    assert result.reason == "fax failed: Disconnected after permitted retries; 1 page sent"


async def test_people_on_the_line_get_no_fax(
    pool: asyncpg.Pool, double: AsteriskDouble, send: Send
) -> None:
    await add_trunk(pool)
    double.program("+74951000003", FarEnd.answer(hangup_after=5))  # says hello, hangs up
    hung = await send("+74951000003")
    assert hung.outcome is Outcome.FAILED
    assert hung.reason == "fax failed: HANGUP (remote channel hungup); 0 pages sent"
    double.program("+74951000004", FarEnd.answer())  # stays on the line: T0 runs out
    silent = await send("+74951000004")
    assert silent.outcome is Outcome.FAILED
    assert silent.reason is not None
    assert silent.reason.startswith("fax failed: Timed out waiting for initial communication")


async def test_busy_is_retried_then_given_up(
    pool: asyncpg.Pool, double: AsteriskDouble, send: Send
) -> None:
    await add_trunk(pool)
    double.program("+74951000005", FarEnd.busy(after=1))
    first = await send("+74951000005")
    assert (first.outcome, first.retry_after_s) == (Outcome.RETRY, 600)
    assert first.reason == "busy (cause 17 User busy)"
    last = await send("+74951000005", attempt=2)
    assert last.outcome is Outcome.FAILED
    assert last.reason == "busy (cause 17 User busy); gave up after 2 attempts"


async def test_faxes_share_the_trunk_caps_and_need_a_route(
    pool: asyncpg.Pool, double: AsteriskDouble, send: Send, fax: tuple[FaxChannel, Engine]
) -> None:
    await add_trunk(pool, max_channels=1, prefix="+7495")
    double.program("+74951000006", FarEnd.fax(after=30, tone="CED"))  # rings 0.3 s
    first = asyncio.create_task(send("+74951000006"))

    async def dialing() -> bool:  # the first fax holds the trunk's one channel
        return bool(double.pbx.channels) and fax[1].trunks.free_total() == 0

    await eventually(dialing, what="the first fax on the trunk")
    full = await send("+74951000007")
    assert (full.outcome, full.reason) == (Outcome.RETRY, "no free trunk channel")
    assert (await first).outcome is Outcome.DELIVERED
    elsewhere = await send("+380441000001")
    assert elsewhere.outcome is Outcome.FAILED
    assert elsewhere.reason == "no route for +380441000001 (see `ccd route list`)"


async def test_a_document_that_cannot_be_read_fails_before_any_call(
    pool: asyncpg.Pool, double: AsteriskDouble, fax: tuple[FaxChannel, Engine], tmp_path: Path
) -> None:
    await add_trunk(pool)
    result = await fax[0].send(
        OutboundMessage(9, "fax", "+74951000008", str(tmp_path / "gone.pdf"))
    )
    assert result.outcome is Outcome.FAILED
    assert result.reason is not None and "gone.pdf: No such file" in result.reason
    # A contact's field cannot lead the document out of the template's folder.
    escaped = await fax[0].send(OutboundMessage(
        10, "fax", "+74951000008", f"{tmp_path}/notices/../notice.tif"))  # fmt: skip
    assert escaped.outcome is Outcome.FAILED
    assert escaped.reason == f"document {tmp_path}/notices/../notice.tif: '..' in the path"
    assert not [r for r in double.requests if r.method == "POST" and r.path == "/ari/channels"]
