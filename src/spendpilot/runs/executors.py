"""Where runs execute: in this process (`spendpilot up`, FIFO per thread) or on workers (`serve`)."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict

from spendpilot.bus.base import user_topic
from spendpilot.logs import get_logger
from spendpilot.runs.admission import PositionReport, RunAdmission
from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.runs.events import encode
from spendpilot.runs.queue import QueueErrors, RunQueue, oldest_active
from spendpilot.runs.queue_positions import QueuePositions
from spendpilot.runs.runner import Pipeline, execute_run
from spendpilot.runs.worker import RunWorker
from spendpilot.store.database import Database

log = get_logger(__name__)


def queued_reporter(bus) -> PositionReport:
    """Tells a waiting run's user its place in the queue, on every socket of theirs in every process."""

    async def report(job: RunJob, position: int) -> None:
        # A connection frame: not a run event, so never stored and without a seq.
        frame = encode("run_queued", {"run_id": job.run_id, "thread_id": job.thread_id, "position": position})
        await bus.publish_notice(user_topic(job.user_id), frame)

    return report


class RunExecutor(ABC):
    """Takes accepted runs and sees each one executed, in order within its thread."""

    name = "in-process"

    @abstractmethod
    async def submit(self, job: RunJob) -> None: ...

    def expected_wait_s(self) -> float:
        """How long a run accepted now would wait before it starts (0 when unknown)."""
        return 0.0

    async def start(self) -> None:
        return None

    async def drain(self, timeout_s: float) -> None:
        """Stop taking runs and give the ones in hand up to timeout_s to finish."""
        return None

    async def close(self) -> None:
        return None


class ThreadGates:
    """FIFO locks per thread so a second message waits for the run before it (asyncio.Lock is fair)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._users: dict[str, int] = defaultdict(int)

    def gate(self, thread_id: str):
        return _CountedGate(self, thread_id)

    def _enter(self, thread_id: str) -> asyncio.Lock:
        self._users[thread_id] += 1
        return self._locks[thread_id]

    def _leave(self, thread_id: str) -> None:
        self._users[thread_id] -= 1
        if self._users[thread_id] == 0:
            del self._users[thread_id]
            self._locks.pop(thread_id, None)


class _CountedGate:
    """Holds the thread's lock; forgets the lock when no run of the thread needs it."""

    def __init__(self, gates: ThreadGates, thread_id: str):
        self.gates, self.thread_id = gates, thread_id
        self.lock = gates._enter(thread_id)
        self.held = False

    async def __aenter__(self):
        await self.lock.acquire()
        self.held = True

    async def __aexit__(self, *exc):
        if self.held:
            self.lock.release()
            self.held = False

    def forget(self) -> None:
        if self.held:
            self.lock.release()
            self.held = False
        self.gates._leave(self.thread_id)


class _Admission:
    """A run starts when its thread is free and then a run slot is free: thread first, so a run
    queued behind its thread holds no slot and is not counted in the queue for slots."""

    def __init__(self, gate: _CountedGate, slots: RunAdmission, job: RunJob):
        self.gate, self.slots, self.job = gate, slots, job

    async def __aenter__(self):
        await self.gate.__aenter__()
        try:
            await self.slots.enter(self.job)
        except BaseException:
            await self.gate.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc):
        self.slots.leave()
        await self.gate.__aexit__(*exc)


class LocalExecutor(RunExecutor):
    def __init__(self, *, event_log, bus, pipeline: Pipeline, analytics, model, max_concurrent: int = 64,
                 queue_report_s: float = 1.0):
        self.event_log = event_log
        self.bus = bus
        self.pipeline = pipeline
        self.analytics = analytics
        self.model = model
        self.gates = ThreadGates()
        self.admission = RunAdmission(max_concurrent, queued_reporter(bus), queue_report_s)
        self._cancels: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()
        bus.on_cancel(self._on_cancel)

    def _on_cancel(self, run_id: str) -> None:
        event = self._cancels.get(run_id)
        if event is not None:
            event.set()

    async def submit(self, job: RunJob) -> None:
        self._cancels[job.run_id] = asyncio.Event()
        task = asyncio.create_task(self._run(job), name=f"run-{job.run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: RunJob) -> None:
        gate = self.gates.gate(job.thread_id)
        try:
            await execute_run(job, RunEmitter(job, self.event_log, self.bus), pipeline=self.pipeline,
                              cancel=self._cancels[job.run_id], thread_gate=_Admission(gate, self.admission, job),
                              analytics=self.analytics, model=self.model)
        except Exception as exc:
            log.error("run_executor_failed", run_id=job.run_id, error=exc)
        finally:
            gate.forget()
            self._cancels.pop(job.run_id, None)

    def expected_wait_s(self) -> float:
        return self.admission.expected_wait_s()

    async def close(self) -> None:
        await self.admission.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class QueueExecutor(RunExecutor):
    """`spendpilot serve`: runs go to workers through the Redis queue, in order within a thread.

    Owns the process's background parts (watchdog, degraded delivery, and in the worker and
    `all` roles the worker itself), so closing the executor stops them in order.
    """

    def __init__(self, *, db: Database, queue: RunQueue, parts: list, worker: RunWorker | None = None,
                 positions: QueuePositions | None = None):
        self.db = db
        self.queue = queue
        self.parts = parts
        self.worker = worker
        # In processes that accept messages: tells waiting runs their place (a part, started and closed with them).
        self.positions = positions
        self.name = worker.holder if worker is not None else "queue (no worker in this process)"

    async def submit(self, job: RunJob) -> None:
        try:
            first = await oldest_active(self.db, job.thread_id)
            # Behind another run of its thread: that run enqueues this one when it ends.
            if first is None or first.id == job.run_id:
                await self.queue.enqueue(job)
        except QueueErrors as exc:
            # Stored as queued; the watchdog enqueues it once Redis answers again.
            log.warning("run_enqueue_failed", run_id=job.run_id, error=exc)
        if self.positions is not None:
            self.positions.watch(job)

    async def start(self) -> None:
        for part in self.parts:
            await part.start()

    async def drain(self, timeout_s: float) -> None:
        if self.worker is not None:
            await self.worker.drain(timeout_s)

    async def close(self) -> None:
        for part in reversed(self.parts):
            try:
                await part.close()
            except Exception as exc:
                log.error("executor_part_close_failed", part=type(part).__name__, error=exc)
