"""Per-key ordered dispatch: order within a key, independence across keys, overflow."""

from __future__ import annotations

import asyncio

from ccd.telephony.dispatch import KeyedDispatcher


async def test_events_of_one_key_run_in_order_one_at_a_time() -> None:
    seen: list[int] = []
    running = 0

    async def handler(n: int) -> None:
        nonlocal running
        running += 1
        assert running == 1
        await asyncio.sleep(0.001 * (n % 3))
        seen.append(n)
        running -= 1

    d: KeyedDispatcher[int] = KeyedDispatcher(handler)
    for n in range(30):
        d.submit("call", n)
    await d.drain()
    assert seen == list(range(30))


async def test_slow_key_does_not_delay_other_keys() -> None:
    release = asyncio.Event()
    fast_done = asyncio.Event()

    async def handler(ev: tuple[str, int]) -> None:
        if ev[0] == "slow":
            await release.wait()
        elif ev[1] == 99:
            fast_done.set()

    d: KeyedDispatcher[tuple[str, int]] = KeyedDispatcher(handler)
    d.submit("slow", ("slow", 0))
    for n in range(100):
        d.submit("fast", ("fast", n))
    await asyncio.wait_for(fast_done.wait(), 1)
    assert d.pending() == 0  # the slow one is running, nothing waits behind fast
    release.set()
    await d.drain()


async def test_overflow_drops_only_droppable_events() -> None:
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(ev: str) -> None:
        await release.wait()
        handled.append(ev)

    d: KeyedDispatcher[str] = KeyedDispatcher(
        handler, max_pending=3, must_deliver=lambda e: e.startswith("end")
    )
    d.submit("c", "first")  # taken by the worker at once
    await asyncio.sleep(0)
    for n in range(10):
        d.submit("c", f"varset{n}")
    d.submit("c", "end")
    release.set()
    await d.drain()
    assert handled == ["first", "varset0", "varset1", "varset2", "end"]
    assert d.dropped == 7


async def test_handler_error_does_not_stop_the_key() -> None:
    handled: list[int] = []

    async def handler(n: int) -> None:
        if n == 1:
            raise RuntimeError("boom")
        handled.append(n)

    d: KeyedDispatcher[int] = KeyedDispatcher(handler)
    for n in range(3):
        d.submit("k", n)
    await d.drain()
    assert handled == [0, 2]
