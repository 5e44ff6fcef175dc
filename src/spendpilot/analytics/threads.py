"""Dedicated threads for blocking engine calls: an embedded engine's session is used from the thread that made it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class SingleThread:
    """Runs blocking engine calls on one dedicated worker thread, off the event loop."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._executor.submit(fn, *args)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class _Claim:
    """One call offered to several threads: the first to reach it runs it, the others pass."""

    def __init__(self, call: Callable[[Any], Any]) -> None:
        self.call = call
        self.result: Future[Any] = Future()
        self._taken = threading.Lock()

    def run_with(self, session: Any) -> None:
        if not self._taken.acquire(blocking=False) or not self.result.set_running_or_notify_cancel():
            return  # another thread has it, or its caller gave up before it started
        try:
            self.result.set_result(self.call(session))
        except BaseException as exc:
            self.result.set_exception(exc)


class FirstFree:
    """Runs each call on whichever of several session threads reaches it first.

    Sending a call to the thread with the fewest calls under way when it is asked would queue a short read behind a
    long one on one thread while the other falls idle. Every call is queued on every thread instead, and the first
    to reach it runs it with its own session: a thread goes from one call to the next without waiting for the event
    loop, which in a burst of runs is busy with their Python work.
    """

    def __init__(self, sessions: Mapping[SingleThread, Any]) -> None:
        self.sessions = dict(sessions)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args, session) on the first thread free."""
        claim = _Claim(lambda session: fn(*args, session))
        for thread, session in self.sessions.items():
            thread.submit(claim.run_with, session)
        return await asyncio.wrap_future(claim.result)
