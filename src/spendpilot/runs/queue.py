"""Runs on workers: the arq job queue, a lease per executing run, and FIFO order per thread.

A thread's runs execute one at a time, oldest first, on whichever worker: only the oldest
unfinished run of a thread is ever enqueued, and whoever ends a run enqueues the next one
(`advance_thread`). A worker re-checks the order when it picks a job up, so a duplicate or
stale job can never overtake. Job ids are run ids, so enqueueing twice is harmless.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from arq.jobs import Job, JobStatus
from redis.exceptions import RedisError
from sqlalchemy import select

from spendpilot.bus.redis import RedisBus
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunJob
from spendpilot.runs.status import OPEN, RunStatus
from spendpilot.store.database import Database
from spendpilot.store.models import Run

log = get_logger(__name__)

RUN_FUNCTION = "run"
QueueErrors = (RedisError, OSError, asyncio.TimeoutError)

# Refresh the lease only if this holder (or nobody, after a Redis restart) has it.
_REFRESH = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RunQueue:
    def __init__(self, bus: RedisBus, lease_s: float):
        self.redis = bus.redis
        self.prefix = bus.prefix
        self.queue_name = f"{bus.prefix}:queue"
        self.lease_s = lease_s

    def lease_key(self, run_id: str) -> str:
        return f"{self.prefix}:lease:{run_id}"

    async def enqueue(self, job: RunJob, job_id: str | None = None) -> bool:
        """False when a job with this id is already waiting or running."""
        queued = await self.redis.enqueue_job(RUN_FUNCTION, asdict(job), _job_id=job_id or job.run_id,
                                              _queue_name=self.queue_name)
        return queued is not None

    async def job_status(self, job_id: str) -> JobStatus:
        return await Job(job_id, self.redis, _queue_name=self.queue_name).status()

    async def claim(self, run_id: str, holder: str, cancel_flag: str) -> tuple[bool, bool]:
        """Take the run's lease if nobody holds it; also says whether a cancel was requested."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.lease_key(run_id), holder, nx=True, px=int(self.lease_s * 1000))
            pipe.exists(cancel_flag)
            claimed, cancelled = await pipe.execute()
        return bool(claimed), bool(cancelled)

    # redis-py annotates eval once for its sync and async clients (a result of `Awaitable | str`,
    # arguments of `str`); the asyncio client always returns an awaitable and sends ints as they are.
    async def refresh(self, run_id: str, holder: str) -> bool:
        lease_ms = int(self.lease_s * 1000)
        return bool(await self.redis.eval(_REFRESH, 1, self.lease_key(run_id), holder, lease_ms))  # type: ignore[misc, arg-type]

    async def release(self, run_id: str, holder: str) -> None:
        await self.redis.eval(_RELEASE, 1, self.lease_key(run_id), holder)  # type: ignore[misc]

    async def leased(self, run_ids: list[str]) -> dict[str, bool]:
        if not run_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for run_id in run_ids:
                pipe.exists(self.lease_key(run_id))
            found = await pipe.execute()
        return {run_id: bool(n) for run_id, n in zip(run_ids, found, strict=True)}


async def oldest_active(db: Database, thread_id: str) -> Run | None:
    """The run of the thread that may execute now: the oldest one not yet finished."""
    async with db.session() as s:
        return await s.scalar(select(Run).where(Run.thread_id == thread_id, Run.status.in_(OPEN))
                              .order_by(Run.created_at, Run.id).limit(1))


async def advance_thread(db: Database, queue: RunQueue, thread_id: str) -> str | None:
    """After a run ends: hand the thread's next waiting run to the queue. Never raises."""
    try:
        run = await oldest_active(db, thread_id)
        if run is not None and run.status == RunStatus.QUEUED:
            await queue.enqueue(RunJob.of(run))
            return run.id
    except Exception as exc:  # the watchdog finds a waiting run nobody enqueued
        log.warning("thread_advance_failed", thread_id=thread_id, error=exc)
    return None
