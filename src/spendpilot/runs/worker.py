"""The worker role: executes queued runs (arq), holding a lease on each while it runs.

A job is delivered at least once. Before running, the worker checks that the run is still
unfinished, that it is its thread's turn, and takes the run's lease (SET NX); a run that
already emitted events on a worker that died is not repeated but ended with `worker_lost`.
On shutdown it stops taking jobs, lets running runs finish for `worker_drain_s`, then
hands back runs that have not started and ends the rest with `worker_stopped`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from arq.constants import in_progress_key_prefix
from arq.worker import Worker, func

from spendpilot.bus.redis import RedisBus
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.runs.ending import end_with_error
from spendpilot.runs.queue import RUN_FUNCTION, QueueErrors, RunQueue, advance_thread, oldest_active
from spendpilot.runs.runner import Pipeline, execute_run
from spendpilot.runs.status import RunStatus

log = get_logger(__name__)


class _NoGate:
    """Thread order is kept by the queue (see runs.queue), so execute_run's gate is open."""

    def __aenter__(self) -> asyncio.Future[None]:
        # A finished future rather than a coroutine: a run cancelled before it starts never awaits it.
        opened = asyncio.get_running_loop().create_future()
        opened.set_result(None)
        return opened

    async def __aexit__(self, *exc: object) -> None:
        return None


class _QueueWorker(Worker):
    """arq leaves running jobs at the head of the queue and checks each with three round trips
    on every poll; with dozens running that starves pickup. One pipelined EXISTS skips them."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if not job_ids:
            return
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            running = await pipe.execute()
        # arq still claims each remaining job atomically (WATCH/MULTI), so a race is harmless.
        await super().start_jobs([job_id for job_id, busy in zip(job_ids, running, strict=True) if not busy])


class RunWorker:
    def __init__(self, *, db, event_log, bus: RedisBus, queue: RunQueue, pipeline: Pipeline, analytics, model,
                 max_jobs: int, poll_s: float, job_timeout_s: float):
        self.db = db
        self.event_log = event_log
        self.bus = bus
        self.queue = queue
        self.pipeline = pipeline
        self.analytics = analytics
        self.model = model
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id('wkr')}"
        self._cancels: dict[str, asyncio.Event] = {}
        self._main: asyncio.Task | None = None
        bus.on_cancel(self._on_cancel)
        self.arq = _QueueWorker(
            functions=[func(self._job, name=RUN_FUNCTION, timeout=job_timeout_s, max_tries=50)],
            redis_pool=bus.redis, queue_name=queue.queue_name, max_jobs=max_jobs, poll_delay=poll_s,
            # No results kept: a run's outcome lives in the database, and its job id can be reused.
            keep_result=0, handle_signals=False, job_serializer=bus.redis.job_serializer,
            job_deserializer=bus.redis.job_deserializer, health_check_interval=30, log_results=False)

    # Lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._main = asyncio.create_task(self._poll_forever(), name="run-worker")
        log.info("worker_started", holder=self.holder, max_jobs=self.arq.max_jobs)

    async def _poll_forever(self) -> None:
        backoff = 0.2
        while True:
            started = time.monotonic()
            try:
                await self.arq.main()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: runs in hand go on, polling resumes later
                if time.monotonic() - started > 10:
                    backoff = 0.2
                log.warning("worker_queue_unavailable", error=exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def busy(self) -> int:
        return sum(not t.done() for t in self.arq.tasks.values())

    async def drain(self, timeout_s: float) -> None:
        """Stop taking jobs; wait for running runs, then hand back or end what is left."""
        self.arq.allow_pick_jobs = False
        deadline = time.monotonic() + timeout_s
        while self.busy() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await self.close()

    async def close(self) -> None:
        self.arq.allow_pick_jobs = False
        tasks = [t for t in self.arq.tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._main is not None:
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)

    def _on_cancel(self, run_id: str) -> None:
        event = self._cancels.get(run_id)
        if event is not None:
            event.set()

    # One job ---------------------------------------------------------------------------------

    # `ctx` (arq's per-job context, unused here) keeps arq's name so the method fits its WorkerCoroutine type.
    async def _job(self, ctx: dict, payload: dict) -> str:
        return await self.execute(RunJob(**payload))

    async def execute(self, job: RunJob) -> str:
        run = await oldest_active(self.db, job.thread_id)
        if run is None or run.id != job.run_id:
            # Finished already, or the run before it in the thread is not: that one enqueues it.
            return "not_its_turn"
        # Registered before the cancel flag is read, so a cancel is seen one way or the other.
        cancel = asyncio.Event()
        self._cancels[job.run_id] = cancel
        claimed, cancelled = await self.queue.claim(job.run_id, self.holder, self.bus.cancel_flag(job.run_id))
        if not claimed:
            self._cancels.pop(job.run_id, None)
            return "held"
        if cancelled:
            cancel.set()
        keeper = asyncio.create_task(self._keep_lease(job.run_id))
        emitter = RunEmitter(job, self.event_log, self.bus)
        handed_back = False
        try:
            if run.status == RunStatus.RUNNING:
                # Its first event is stored (status and event commit together), but the worker
                # that ran it is gone: half-done work is not repeated.
                await end_with_error(self.event_log, self.bus, run, "worker_lost")
                return "lost"
            return await execute_run(job, emitter, pipeline=self.pipeline, cancel=cancel, thread_gate=_NoGate(),
                                     analytics=self.analytics, model=self.model)
        except asyncio.CancelledError:
            if emitter.seq > 0 and not emitter.finished:
                await end_with_error(self.event_log, self.bus, run, "worker_stopped")
            else:
                handed_back = True  # nothing emitted: arq puts the job back for another worker
            raise
        finally:
            keeper.cancel()
            self._cancels.pop(job.run_id, None)
            try:
                await self.queue.release(job.run_id, self.holder)
            except QueueErrors:
                pass  # the lease expires on its own
            if not handed_back:
                await advance_thread(self.db, self.queue, job.thread_id)

    async def _keep_lease(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.queue.lease_s / 3)
            try:
                if not await self.queue.refresh(run_id, self.holder):
                    log.warning("lease_taken_over", run_id=run_id)
            except QueueErrors as exc:
                log.warning("lease_refresh_failed", run_id=run_id, error=exc)
