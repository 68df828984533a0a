"""One SMPP link against the SMSC double over loopback sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from ccd.messaging.sms.link import LinkDown, LinkState, SmppLink, SubmitRejected, SubmitUnknown
from ccd.messaging.sms.pdu import Command, Pdu, ShortMessage, Status
from ccd.messaging.sms.ratelimit import max_per_window
from ccd.sim.smsc.double import SmscDouble
from tests.dialer.conftest import eventually
from tests.sms.conftest import link


def _sm(n: int = 0) -> ShortMessage:
    return ShortMessage("CCD", f"7916000{n:04d}", f"hello {n}".encode(), registered_delivery=1)


@asynccontextmanager
async def _bound(smsc: SmscDouble, **kw: Any) -> AsyncIterator[SmppLink]:
    ln = SmppLink(link(smsc.port, **kw), lambda name, sm: None)
    ln.start()
    try:
        await ln.wait_bound(5)
        yield ln
    finally:
        await ln.close()


def _cond(check: Callable[[], bool]) -> Callable[[], Any]:
    async def run() -> bool:
        return check()

    return run


async def test_binds_as_transceiver_and_gets_message_ids(smsc: SmscDouble) -> None:
    async with _bound(smsc) as ln:
        ids = await asyncio.gather(*(ln.submit(_sm(i)) for i in range(5)))
    assert ids == [s.message_id for s in smsc.submits]
    assert len(set(ids)) == 5
    assert smsc.submits[0].system_id == "ccd1" and smsc.submits[0].destination == "79160000000"
    assert smsc.state()["all_sessions"][0]["receives"] is True  # transceiver: gets receipts too


async def test_a_refused_bind_is_retried_with_back_off_and_never_sends(smsc: SmscDouble) -> None:
    ln = SmppLink(link(smsc.port, password="wrong"), lambda name, sm: None)
    ln.start()
    try:
        await asyncio.sleep(0.6)
        assert ln.state is not LinkState.BOUND and smsc.binds == 0
        attempts = len(smsc.state()["all_sessions"])
        assert 2 <= attempts <= 6  # 0.05, 0.1, 0.2, 0.2 ... s apart, not a busy loop
        with pytest.raises(LinkDown):
            await ln.submit(_sm())
    finally:
        await ln.close()


async def test_throttled_submits_slow_down_and_all_go_once(smsc: SmscDouble) -> None:
    smsc.tps = 5
    async with _bound(smsc, window=20) as ln:
        ids = await asyncio.gather(*(ln.submit(_sm(i)) for i in range(15)))
    assert smsc.throttled > 0  # the SMSC did push back
    assert len(set(ids)) == 15 and len(smsc.submits) == 15  # each taken exactly once
    assert sorted(s.destination for s in smsc.submits) == [f"7916000{i:04d}" for i in range(15)]


async def test_the_tps_limit_is_never_exceeded_as_the_smsc_measures_it(smsc: SmscDouble) -> None:
    async with _bound(smsc, tps=20, window=100) as ln:
        started = time.monotonic()
        await asyncio.gather(*(ln.submit(_sm(i)) for i in range(61)))
        took = time.monotonic() - started
    times = [s.at for s in smsc.submits]
    assert len(times) == 61 and max_per_window(times) <= 20
    assert took >= 3.0  # 61 at 20 per second: three full windows passed
    assert smsc.throttled == 0


async def test_the_window_bounds_submits_awaiting_their_resp(smsc: SmscDouble) -> None:
    smsc.resp_delay = 0.05
    async with _bound(smsc, window=3) as ln:
        await asyncio.gather(*(ln.submit(_sm(i)) for i in range(24)))
    session = smsc.state()["all_sessions"][0]
    assert session["max_outstanding"] == 3 and session["accepted"] == 24


async def test_the_smsc_window_is_enforced_and_the_link_recovers(smsc: SmscDouble) -> None:
    smsc.resp_delay, smsc.window = 0.05, 2
    async with _bound(smsc, window=6) as ln:
        await asyncio.gather(*(ln.submit(_sm(i)) for i in range(12)))
    session = smsc.state()["all_sessions"][0]
    assert session["throttled"] > 0 and session["max_outstanding"] <= 2
    assert len(smsc.submits) == 12


async def test_generic_nack_throttled_is_retried_other_nacks_refuse(smsc: SmscDouble) -> None:
    async with _bound(smsc) as ln:
        smsc.nacks = [Status.THROTTLED, Status.MSGQFUL]
        assert await ln.submit(_sm(1)) == smsc.submits[0].message_id
        smsc.nacks = [Status.INVCMDID]
        with pytest.raises(SubmitRejected, match="ESME_RINVCMDID"):
            await ln.submit(_sm(2))
        assert len(smsc.submits) == 1
        # a command the link does not know is answered with generic_nack, link stays up
        session = next(iter(smsc.sessions))
        session.send(Pdu(0x00000103, 0, 4242))  # data_sm
        def nacks() -> list[Pdu]:
            return [r for r in smsc.responses if r.command == Command.GENERIC_NACK]

        await eventually(_cond(lambda: bool(nacks())), 3, "generic_nack")
        nack = nacks()[0]
        assert (nack.sequence, nack.status) == (4242, Status.INVCMDID)
        assert ln.bound and ln.binds == 1


async def test_enquire_link_keeps_an_idle_link_bound(smsc: SmscDouble) -> None:
    async with _bound(smsc) as ln:  # enquire every 0.2 s, dead after 0.8 s of silence
        await asyncio.sleep(2.0)
        assert ln.binds == 1 and ln.bound
        assert await ln.submit(_sm())


async def test_a_half_open_link_is_found_dead_and_bound_again(smsc: SmscDouble) -> None:
    async with _bound(smsc) as ln:
        smsc.mute()  # socket open, nothing answered
        await eventually(_cond(lambda: ln.binds == 2 and ln.bound), 5, "rebind after watchdog")
        assert await ln.submit(_sm())


async def test_a_drop_with_submits_in_the_window_makes_them_unknown_never_resent(
    smsc: SmscDouble,
) -> None:
    smsc.hold = True
    async with _bound(smsc) as ln:
        tasks = [asyncio.create_task(ln.submit(_sm(i))) for i in range(3)]
        await eventually(_cond(lambda: len(smsc.submits) == 3), 3, "3 submits at the SMSC")
        smsc.hold = False
        smsc.held.clear()
        smsc.drop()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, SubmitUnknown) for r in results), results
        await eventually(_cond(lambda: ln.binds == 2 and ln.bound), 5, "rebind")
        await asyncio.sleep(0.3)
        assert len(smsc.submits) == 3  # nothing sent twice
        assert await ln.submit(_sm(9))
        assert len(smsc.submits) == 4


async def test_an_smsc_restart_is_ridden_out(smsc: SmscDouble) -> None:
    async with _bound(smsc) as ln:
        await smsc.restart(0.5)
        await eventually(_cond(lambda: ln.binds == 2 and ln.bound), 5, "rebind after restart")
        assert await ln.submit(_sm())


async def test_unbind_from_the_smsc_ends_the_session_and_the_link_binds_again(
    smsc: SmscDouble,
) -> None:
    async with _bound(smsc) as ln:
        session = next(iter(smsc.sessions))
        session.send(Pdu(Command.UNBIND, 0, 77))
        await eventually(_cond(lambda: ln.binds == 2 and ln.bound), 5, "rebind after unbind")


def test_max_per_window_counts_half_open_windows() -> None:
    assert max_per_window([]) == 0
    assert max_per_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_per_window([0.0, 1.0, 2.0]) == 1
    assert max_per_window([0.0] * 5 + [3.0]) == 5


def _resps(smsc: SmscDouble) -> list[tuple[int, int]]:
    """(sequence, status) of every deliver_sm_resp the double got, in order."""
    return [(r.sequence, r.status) for r in smsc.responses if r.command == Command.DELIVER_SM_RESP]


async def test_a_failing_deliver_handler_asks_the_smsc_to_deliver_again(smsc: SmscDouble) -> None:
    smsc.retry_s = 0.2
    seen: list[str] = []

    def handler(name: str, sm: ShortMessage) -> None:
        seen.append(sm.short_message.decode())
        if len(seen) == 1:
            raise RuntimeError("storage down")

    ln = SmppLink(link(smsc.port), handler)
    ln.start()
    try:
        await ln.wait_bound(5)
        smsc.inject_mo("79161234567", "7333", "first")
        smsc.inject_mo("79161234567", "7333", "second")
        await eventually(_cond(lambda: len(_resps(smsc)) == 3), 5, "3 deliver_sm_resp")
        assert [status for _, status in _resps(smsc)] == [Status.X_T_APPN, Status.OK, Status.OK]
        assert seen == ["first", "second", "first"]  # the refused one came again
        assert ln.bound and ln.binds == 1 and smsc.state()["unacked"] == 0
    finally:
        await ln.close()


async def test_deliver_sm_is_answered_when_its_future_is_done_in_any_order(
    smsc: SmscDouble,
) -> None:
    """The reader goes on while answers wait; each goes out (by sequence) when its future is
    done, an error status when it failed, none when cancelled (the SMSC delivers it again)."""
    waiting: dict[str, asyncio.Future[None]] = {}

    def handler(name: str, sm: ShortMessage) -> asyncio.Future[None]:
        fut = waiting[sm.short_message.decode()] = asyncio.get_running_loop().create_future()
        return fut

    smsc.retry_s = 60.0  # a refused one comes again, but not within this test
    ln = SmppLink(link(smsc.port), handler)
    ln.start()
    try:
        await ln.wait_bound(5)
        for text in ("one", "two", "three", "four"):
            smsc.inject_mo("79161234567", "7333", text)
        await eventually(_cond(lambda: len(waiting) == 4), 3, "all 4 read, none answered")
        assert _resps(smsc) == [] and smsc.state()["unacked"] == 4
        waiting["three"].set_result(None)
        waiting["one"].set_exception(RuntimeError("not stored"))
        waiting["two"].cancel()
        await eventually(_cond(lambda: len(_resps(smsc)) == 2), 3, "2 answers")
        assert _resps(smsc) == [(3, Status.OK), (1, Status.X_T_APPN)]
        # the session ends with "two" and "four" unanswered: the double delivers them again
        smsc.drop()
        waiting["four"].set_result(None)  # its answer was due on the session that ended
        del waiting["two"], waiting["four"]
        await eventually(_cond(lambda: "two" in waiting and "four" in waiting), 5, "again")
        assert ln.binds == 2 and len(_resps(smsc)) == 2
        waiting["four"].set_result(None)
        waiting["two"].set_result(None)
        await eventually(_cond(lambda: len(_resps(smsc)) == 4), 3, "the 2 answered")
        assert [status for _, status in _resps(smsc)[2:]] == [Status.OK, Status.OK]
        assert smsc.state()["unacked"] == 0 and smsc.redelivered == 3  # 2 + the refused one
    finally:
        await ln.close()


async def test_a_broken_frame_from_the_smsc_ends_the_session_and_it_binds_again(
    smsc: SmscDouble,
) -> None:
    async with _bound(smsc) as ln:
        session = next(iter(smsc.sessions))
        assert session.transport is not None
        session.transport.write(b"\x00\x00\x00\x05junk")  # command_length 5 < 16
        await eventually(_cond(lambda: ln.binds == 2 and ln.bound), 5, "rebind after junk")
        assert await ln.submit(_sm())
