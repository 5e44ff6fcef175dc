"""Dedicated threads for blocking engine calls: an embedded engine's session is used from the thread that made it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class SingleThread:
    """Runs blocking engine calls on one dedicated worker thread, off the event loop."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.under_way = 0  # reads sent to it and not yet answered (counted on the event loop)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class FreeThreads:
    """Hands each read the first of several threads with no read under way, waiting for one when all are busy.

    Sending a read to the thread with the fewest reads at the moment it is asked would queue a short read behind a
    long one on one thread while the other thread falls idle; a read that waits here starts on whichever frees first.
    """

    def __init__(self, threads: Sequence[SingleThread]) -> None:
        self.threads = list(threads)
        self._waiting: deque[asyncio.Future] = deque()

    @asynccontextmanager
    async def free(self) -> AsyncIterator[SingleThread]:
        while (thread := next((t for t in self.threads if not t.under_way), None)) is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken, then cancelled: the free thread goes to the next in line
                raise
        thread.under_way += 1
        try:
            yield thread
        finally:
            thread.under_way -= 1
            self._wake_next()

    def _wake_next(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
