"""Places in the shared run queue (`spendpilot serve`), told to each waiting run's user as `run_queued`.

Workers take runs from one Redis queue (arq) in arrival order, and a run stays in it while it executes,
marked in progress, until it ends. Each API process watches the runs it accepted: once a tick it reads the
queue up to the furthest of them, leaves out the runs in progress, and tells a run that has waited longer
than a free worker takes to pick one up its place; then again whenever it has moved up, as the embedded
executor's admission queue does (at most one report per interval for each run).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from arq.constants import in_progress_key_prefix

from spendpilot.logs import get_logger
from spendpilot.runs.admission import PositionReport
from spendpilot.runs.emitter import RunJob
from spendpilot.runs.queue import QueueErrors, RunQueue

log = get_logger(__name__)


@dataclass
class _Watched:
    job: RunJob
    seen: bool = False  # found waiting in the queue at least once
    told: int = 0  # the position last reported
    told_at: float = 0.0


class QueuePositions:
    def __init__(self, queue: RunQueue, report: PositionReport, *, report_every_s: float, patience_s: float):
        self.queue = queue
        self._report = report
        self.report_every_s = report_every_s
        # A run waiting no longer than this is only waiting for a worker's next look at the queue.
        self.patience_s = patience_s
        self._watched: dict[str, _Watched] = {}
        self._task: asyncio.Task | None = None

    def watch(self, job: RunJob) -> None:
        self._watched[job.run_id] = _Watched(job)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="run-queue-positions")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.report_every_s, self.patience_s))
            if not self._watched:
                continue
            try:
                await self.tick()
            except QueueErrors as exc:  # a report is advice: the runs wait and execute all the same
                log.warning("run_queue_positions_failed", error=exc)

    async def tick(self) -> None:
        """Read the queue once and tell every watched run that waits its place, if it is news."""
        places = await self._places()
        now_wall, now = time.time(), time.monotonic()
        for run_id, watched in list(self._watched.items()):
            place = places.get(run_id)
            if place is None:
                # Taken by a worker (or ended), or not in the queue yet: behind an earlier run of its thread, until
                # that one ends or this one's deadline passes.
                if watched.seen or now_wall > watched.job.deadline_ts:
                    del self._watched[run_id]
                continue
            position, queued_at = place
            watched.seen = True
            if now_wall - queued_at < self.patience_s:
                continue
            if watched.told == 0 or (position < watched.told and now - watched.told_at >= self.report_every_s):
                watched.told, watched.told_at = position, now
                try:
                    await self._report(watched.job, position)
                except Exception as exc:
                    log.warning("run_queue_report_failed", run_id=run_id, error=exc)

    async def _places(self) -> dict[str, tuple[int, float]]:
        """{run id: (1-based place among the runs waiting, wall time it was queued)} for the watched runs."""
        redis, name = self.queue.redis, self.queue.queue_name
        watched = list(self._watched)
        async with redis.pipeline(transaction=False) as pipe:
            for run_id in watched:
                pipe.zrank(name, run_id)
            ranks = [rank for rank in await pipe.execute() if rank is not None]
        if not ranks:
            return {}
        # Everything up to the furthest watched run: the runs ahead of each, executing ones included.
        head = await redis.zrange(name, 0, max(ranks), withscores=True)
        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _ in head:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            running = await pipe.execute()
        places: dict[str, tuple[int, float]] = {}
        position = 0
        for (job_id, score), busy in zip(head, running, strict=True):
            if busy:
                continue
            position += 1
            places[job_id.decode()] = (position, score / 1000)  # arq scores a job by its enqueue time in ms
        return places
