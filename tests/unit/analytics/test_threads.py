"""Reads go to the first session thread free: never queued behind a long read while another thread is idle."""

from __future__ import annotations

import asyncio

from spendpilot.analytics.threads import FreeThreads, SingleThread

LONG_READ = "SELECT sleep(1.5) AS slept"
SHORT_READ = "SELECT toUInt8(1) AS ok"


async def test_a_read_asked_while_every_session_is_busy_starts_on_the_first_to_free(store):
    finished: list[str] = []

    async def read(name: str, statement: str) -> None:
        await store.query(statement)
        finished.append(name)

    long = asyncio.create_task(read("long", LONG_READ))
    first = asyncio.create_task(read("first short", SHORT_READ))
    await asyncio.sleep(0)  # both sent: one session each
    second = asyncio.create_task(read("second short", SHORT_READ))
    await asyncio.gather(long, first, second)
    # The second short read waited for the session the first one used, not for the long read's.
    assert finished == ["first short", "second short", "long"]


async def test_a_read_woken_then_cancelled_hands_the_free_thread_to_the_next():
    free = FreeThreads([SingleThread("test-read")])
    release = asyncio.Event()
    got: list[str] = []

    async def read(name: str) -> None:
        async with free.free():
            got.append(name)

    async def hold_then_cancel_the_woken() -> None:
        async with free.free():
            got.append("holder")
            await release.wait()
        woken.cancel()  # leaving woke the first waiter: it is cancelled before it runs

    holder = asyncio.create_task(hold_then_cancel_the_woken())
    await asyncio.sleep(0)
    woken, next_in_line = asyncio.create_task(read("woken")), asyncio.create_task(read("next"))
    await asyncio.sleep(0)  # both wait for the thread
    release.set()
    await holder
    await asyncio.wait_for(next_in_line, timeout=5)
    assert got == ["holder", "next"]
    assert woken.cancelled()
    for thread in free.threads:
        thread.shutdown()
