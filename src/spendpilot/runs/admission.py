"""Run slots of one process, and the queue of runs waiting for one, in arrival order, with their positions.

A burst larger than the process can serve at once waits here instead of every run sharing the CPU
until all of them miss their deadline together. A run that has to wait is told its place in the
queue (`run_queued`) when it joins, and again whenever it has moved up since it was last told, at
most once per report interval: a long queue moving fast costs one frame per waiting run a tick,
not one per run that leaves it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable

from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunJob

log = get_logger(__name__)

# (the waiting run, its 1-based place in the queue) -> delivered to the run's user.
PositionReport = Callable[[RunJob, int], Awaitable[None]]
# How many recent slot releases the pace of the queue is measured over.
PACE_WINDOW = 64


class _Waiter:
    __slots__ = ("job", "granted", "told")

    def __init__(self, job: RunJob, granted: asyncio.Future):
        self.job, self.granted = job, granted
        self.told = 0  # the position last reported


class RunAdmission:
    def __init__(self, capacity: int, report: PositionReport, report_every_s: float = 1.0):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._free = capacity
        self._report = report
        self._report_every_s = report_every_s
        # Insertion-ordered: the first key is the head of the queue; a cancelled waiter leaves in O(1).
        self._queue: dict[int, _Waiter] = {}
        self._tickets = itertools.count()
        self._reporter: asyncio.Task | None = None
        self._released: deque[float] = deque(maxlen=PACE_WINDOW)

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return self.capacity - self._free

    def expected_wait_s(self) -> float:
        """How long a run joining the queue now would wait for a slot, at the pace slots were freed lately."""
        if not self._queue or len(self._released) < 2:
            return 0.0
        span = self._released[-1] - self._released[0]
        if span <= 0:
            return 0.0
        return len(self._queue) * span / (len(self._released) - 1)

    async def enter(self, job: RunJob) -> None:
        """Returns once the run holds a slot; every enter that returns is paired with one leave."""
        if self._free > 0 and not self._queue:
            self._free -= 1
            return
        ticket = next(self._tickets)
        waiter = _Waiter(job, asyncio.get_running_loop().create_future())
        self._queue[ticket] = waiter
        try:
            await self._tell(waiter, len(self._queue))
            self._keep_reporting()
            await waiter.granted
        except BaseException:
            self._queue.pop(ticket, None)
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.leave()  # the slot was handed over as the caller gave up: pass it on
            raise

    def leave(self) -> None:
        """Free a slot: straight to the oldest waiting run if there is one."""
        self._released.append(time.monotonic())
        while self._queue:
            waiter = self._queue.pop(next(iter(self._queue)))
            if not waiter.granted.done():
                waiter.granted.set_result(None)
                return
        self._free += 1

    async def _tell(self, waiter: _Waiter, position: int) -> None:
        waiter.told = position
        try:
            await self._report(waiter.job, position)
        except Exception as exc:  # a report is advice: losing one must not lose the run
            log.warning("run_queue_report_failed", run_id=waiter.job.run_id, error=exc)

    def _keep_reporting(self) -> None:
        if self._reporter is None or self._reporter.done():
            self._reporter = asyncio.create_task(self._report_loop(), name="run-queue-positions")

    async def _report_loop(self) -> None:
        while self._queue:
            await asyncio.sleep(self._report_every_s)
            for position, (ticket, waiter) in enumerate(list(self._queue.items()), start=1):
                # Skipped if it left the queue (a slot, a cancel) while earlier reports went out.
                if position < waiter.told and ticket in self._queue:
                    await self._tell(waiter, position)

    async def close(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
