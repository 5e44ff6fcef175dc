"""Reads go to the first session thread free: never queued behind a long read while another thread is idle."""

from __future__ import annotations

import asyncio
import threading

from spendpilot.analytics.threads import FirstFree, SingleThread

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


async def test_every_call_runs_once_with_the_session_of_the_thread_that_runs_it():
    threads = [SingleThread("test-a"), SingleThread("test-b")]
    readers = FirstFree({threads[0]: "session a", threads[1]: "session b"})
    ran: list[tuple[int, str, str]] = []

    def call(number: int, session: str) -> int:
        ran.append((number, session, threading.current_thread().name))
        return number * 10

    results = await asyncio.gather(*(readers.run(call, number) for number in range(200)))
    assert results == [number * 10 for number in range(200)]
    assert sorted(number for number, _, _ in ran) == list(range(200))
    # Each session is used only from the thread that holds it.
    assert all(thread.startswith("test-a") == (session == "session a") for _, session, thread in ran)
    for thread in threads:
        thread.shutdown()


async def test_a_call_given_up_before_it_starts_does_not_run():
    thread = SingleThread("test-busy")
    readers = FirstFree({thread: "session"})
    release = threading.Event()
    ran: list[str] = []
    busy = asyncio.ensure_future(readers.run(lambda session: release.wait(5)))
    given_up = asyncio.ensure_future(readers.run(lambda session: ran.append("given up")))
    await asyncio.sleep(0.05)
    given_up.cancel()
    await asyncio.wait([given_up])
    for _ in range(3):  # the caller's cancellation reaches the call's future through the loop's callbacks
        await asyncio.sleep(0)
    release.set()
    await busy
    assert await readers.run(lambda session: "after") == "after"
    assert ran == [] and given_up.cancelled()
    thread.shutdown()
