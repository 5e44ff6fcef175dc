"""No run is left open: end runs past their deadline or whose worker is gone; requeue lost jobs.

Runs in every `serve` process. Any number of watchdogs (and the run's own worker) may try
to end the same run at once: the final event is written with a status update that only
succeeds on an unfinished run (see ending.write_final), so exactly one of them wins.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from arq.jobs import JobStatus
from sqlalchemy import select

from spendpilot.clock import as_utc, utcnow
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunJob
from spendpilot.runs.ending import end_cancelled, end_with_error
from spendpilot.runs.queue import QueueErrors, RunQueue, advance_thread, oldest_active
from spendpilot.runs.status import OPEN, RunStatus
from spendpilot.store.models import Run

log = get_logger(__name__)

# A worker ends its own run at the deadline; the watchdog steps in only after this.
DEADLINE_GRACE_S = 2.0


class Watchdog:
    def __init__(self, *, db, event_log, bus, queue: RunQueue, interval_s: float, lease_s: float,
                 cancel_waiting: bool = False):
        self.db = db
        self.event_log = event_log
        self.bus = bus
        self.queue = queue
        self.interval_s = interval_s
        self.lease_s = lease_s
        # run_id -> monotonic time its lease was first seen missing.
        self._unleased_since: dict[str, float] = {}
        self._task: asyncio.Task | None = None
        self._spawned: set[asyncio.Task] = set()
        if cancel_waiting:
            bus.on_cancel(self._on_cancel)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="run-watchdog")

    async def close(self) -> None:
        for task in [self._task, *self._spawned]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._spawned] if t is not None), return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting; try again next round
                log.warning("watchdog_sweep_failed", error=exc)
            await asyncio.sleep(self.interval_s)

    async def sweep(self) -> None:
        async with self.db.session() as s:
            runs = (await s.scalars(select(Run).where(Run.status.in_(OPEN)))).all()
        now = utcnow()
        overdue = [r for r in runs if as_utc(r.deadline_at) + timedelta(seconds=DEADLINE_GRACE_S) < now]
        for run in overdue:
            await self._end(run, "deadline_exceeded")
        rest = [r for r in runs if r not in overdue]
        try:
            leased = await self.queue.leased([r.id for r in rest])
        except QueueErrors:
            return  # Redis is down: leases cannot be judged, deadlines still are
        mono = time.monotonic()
        self._unleased_since = {run_id: t for run_id, t in self._unleased_since.items()
                                if run_id in leased and not leased[run_id]}
        for run in rest:
            if leased[run.id]:
                continue
            # A live worker re-takes a lost lease (e.g. after a Redis restart) well within lease_s.
            since = self._unleased_since.setdefault(run.id, mono)
            if mono - since < self.lease_s:
                continue
            if run.status == RunStatus.RUNNING:
                await self._end(run, "worker_lost")
            else:
                await self._requeue_if_lost(run)

    async def _requeue_if_lost(self, run: Run) -> None:
        """A queued run whose turn it is but which no worker holds and no job carries."""
        first = await oldest_active(self.db, run.thread_id)
        if first is None or first.id != run.id:
            return  # waiting for the run before it in its thread
        status = await self.queue.job_status(run.id)
        if status == JobStatus.not_found:
            if await self.queue.enqueue(RunJob.of(run)):
                log.info("run_requeued", run_id=run.id)
        elif status == JobStatus.in_progress:
            # Picked up by a worker that died before taking the lease: nothing ran, run it again.
            if await self.queue.enqueue(RunJob.of(run), job_id=f"{run.id}.{int(time.time())}"):
                log.info("run_requeued", run_id=run.id, after="worker_lost")
        self._unleased_since.pop(run.id, None)

    async def _end(self, run: Run, code: str) -> None:
        if not await end_with_error(self.event_log, self.bus, run, code):
            return
        log.warning("run_ended_by_watchdog", run_id=run.id, code=code)
        self._unleased_since.pop(run.id, None)
        try:
            # A worker still busy with it (slow, or cut off from Redis for a while) stops now.
            await self.bus.request_cancel(run.id)
        except QueueErrors:
            pass
        await advance_thread(self.db, self.queue, run.thread_id)

    # Cancel of a run still waiting in the queue: no worker holds it, so end it here.

    def _on_cancel(self, run_id: str) -> None:
        task = asyncio.create_task(self._cancel_waiting(run_id))
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _cancel_waiting(self, run_id: str) -> None:
        try:
            async with self.db.session() as s:
                run = await s.get(Run, run_id)
            if run is None or run.status != RunStatus.QUEUED or (await self.queue.leased([run_id]))[run_id]:
                return  # finished, or a worker has it and stops on the same broadcast
            if await end_cancelled(self.event_log, self.bus, run):
                await advance_thread(self.db, self.queue, run.thread_id)
        except Exception as exc:
            log.warning("cancel_waiting_failed", run_id=run_id, error=exc)
