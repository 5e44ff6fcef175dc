"""Group commit of live usage: requests hand rows over and are answered once those rows are stored.

One task per process writes: whatever arrived while the previous insert ran goes into the next one, so many
small exports cost one insert, and a request is answered only after its insert returned (a row acknowledged
to its sender survives `kill -9`). What waits is bounded: past `max_pending` rows new work is refused with
503 and Retry-After, and one key may hold at most `max_pending_per_key` of them (429), instead of memory
growing while the store catches up.

Every row carries its identity (a span's trace_id:span_id, a gateway call's own id): a batch goes through a
staging table, and the engine moves on only the rows whose identity the org has not stored yet, so an
exporter that sends the same spans again (a retry after a timeout, a replay) stores them once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from spendpilot.analytics import sql
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.analytics.versions import orgs_of_rows
from spendpilot.errors import RateLimited, Unavailable
from spendpilot.logs import get_logger

log = get_logger(__name__)

# Seconds a refused client is asked to wait: about what one full batch takes to write.
RETRY_AFTER_S = 1
# Seconds the writer rests after a commit, per second the commit took; unless this many rows are waiting,
# enough that the insert's fixed cost is a small share of theirs. (A commit of spans costs embedded chDB about
# 45 ms of CPU plus a few us a row: bench/bench_intake_commits.py. A higher bar, 5,000, left the second core
# idle between commits on a quiet machine: 16.8-18.8k spans/s against 21.0-23.8k.)
REST_PER_COMMIT = 1.0
WORTH_ROWS = 1000
# (org_id, rows stored, source) after each write; the usage notices hang here.
StoredHook = Callable[[str, int, str], Awaitable[None] | None]


@dataclass
class _Submission:
    rows: list[dict]
    key_id: str
    source: str
    # Spans may come again (an exporter's retry); gateway calls carry an identity made for them, never repeated.
    dedupe: bool
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class IntakeWriter:
    def __init__(self, store: AnalyticsStore, *, max_pending: int, max_pending_per_key: int, batch_rows: int,
                 write_timeout_s: float, commit_every_s: float = 0.0, on_stored: StoredHook | None = None):
        self.store = store
        self.max_pending = max_pending
        self.max_pending_per_key = max_pending_per_key
        self.batch_rows = batch_rows
        self.write_timeout_s = write_timeout_s
        # An insert costs the store about the same for one row as for thousands (a part per table and rollup),
        # so commits are spaced at least this much and what arrives meanwhile shares the next one.
        self.commit_every_s = commit_every_s
        self.on_stored = on_stored
        self._queue: deque[_Submission] = deque()
        self._pending = 0
        self._pending_by_key: dict[str, int] = defaultdict(int)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        # One staging table per writer: embedded chDB has one process per data dir, so its name is fixed (no
        # table is left behind by a crash); processes sharing a ClickHouse server each have their own.
        suffix = "" if store.engine == "chdb" else "_" + uuid.uuid4().hex[:12]
        self.staging = f"llm_usage_intake{suffix}"

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> None:
        await self.store.command(sql.create_staging(self.staging))
        await self.store.command(sql.truncate_table(self.staging))
        self._task = asyncio.create_task(self._run(), name="intake-writer")

    async def close(self) -> None:
        """Refuse new work, store what was accepted, stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
            if self.staging != "llm_usage_intake":
                await self.store.command(sql.drop_staging(self.staging))

    async def write(self, rows: list[dict], *, key_id: str, source: str, dedupe: bool = True) -> int:
        """Store rows (those already stored are left out); raises RateLimited/Unavailable when it cannot take them."""
        if not rows:
            return 0
        self.check(key_id, len(rows))
        submission = _Submission(rows, key_id, source, dedupe)
        self._queue.append(submission)
        self._pending += len(rows)
        self._pending_by_key[key_id] += len(rows)
        self._wake.set()
        try:
            return await asyncio.wait_for(asyncio.shield(submission.future), self.write_timeout_s)
        except TimeoutError:
            # The rows stay queued and will be stored; a retry of spans is deduplicated.
            raise Unavailable("store_busy", "usage could not be stored in time; retry shortly",
                              headers={"Retry-After": str(RETRY_AFTER_S)}) from None

    def check(self, key_id: str, count: int = 1) -> None:
        """Raise Unavailable (503) or RateLimited (429) when `count` more rows of this key cannot be taken now."""
        if self._closing:
            raise Unavailable("shutting_down", "this instance is shutting down; retry on another",
                              headers={"Retry-After": str(RETRY_AFTER_S)})
        held = self._pending_by_key.get(key_id, 0)
        if held and held + count > self.max_pending_per_key:
            raise RateLimited("this API key has too much usage waiting to be stored; slow down",
                              retry_after_s=RETRY_AFTER_S)
        # An empty backlog takes any request, so a single export larger than the limit is never refused forever.
        if self._pending and self._pending + count > self.max_pending:
            raise Unavailable("overloaded", "too much usage waiting to be stored; retry shortly",
                              headers={"Retry-After": str(RETRY_AFTER_S)})

    async def _run(self) -> None:
        spaced_until = rest_until = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            await self._wait_turn(spaced_until, rest_until)
            started = loop.time()
            batch = self._take()
            try:
                counts = await self._store(batch)
            except Exception as exc:
                counts = await self._store_one_by_one(batch, exc)
            # An insert costs the engine tens of milliseconds of CPU whatever its size, so small commits must not
            # run back to back under load (many gateway calls): resting as long as the last one took leaves the
            # CPU to decoding and relaying and lets the next batch grow. Large batches need no rest.
            ended = loop.time()
            spaced_until, rest_until = started + self.commit_every_s, ended + (ended - started) * REST_PER_COMMIT
            for submission, stored in zip(batch, counts, strict=True):
                self._release(submission)
                if isinstance(stored, BaseException):
                    if not submission.future.done():
                        submission.future.set_exception(stored)
                    # Nobody may be waiting any more (timed out): do not log "exception never retrieved".
                    submission.future.exception()
                elif not submission.future.done():
                    submission.future.set_result(stored)
            await self._notify(batch, counts)

    async def _wait_turn(self, spaced_until: float, rest_until: float) -> None:
        """Wait until the next commit is due: `commit_every_s` after the last one started (a full batch goes at
        once) and the rest after it is over (enough rows to spread an insert's cost over end it early)."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            now, queued = loop.time(), sum(len(s.rows) for s in self._queue)
            if queued >= self.batch_rows or (now >= spaced_until and (now >= rest_until or queued >= WORTH_ROWS)):
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), (spaced_until if now < spaced_until else rest_until) - now)
            except TimeoutError:
                pass

    def _take(self) -> list[_Submission]:
        batch = [self._queue.popleft()]
        size = len(batch[0].rows)
        while self._queue and size + len(self._queue[0].rows) <= self.batch_rows:
            submission = self._queue.popleft()
            batch.append(submission)
            size += len(submission.rows)
        return batch

    def _release(self, submission: _Submission) -> None:
        self._pending -= len(submission.rows)
        left = self._pending_by_key[submission.key_id] - len(submission.rows)
        if left > 0:
            self._pending_by_key[submission.key_id] = left
        else:
            self._pending_by_key.pop(submission.key_id, None)

    async def _store_one_by_one(self, batch: list[_Submission], failure: Exception) -> list[int | BaseException]:
        """A batch failed: write each request alone, so one bad export does not fail its neighbours."""
        if len(batch) == 1:
            log.warning("intake_write_failed", rows=len(batch[0].rows), error=failure)
            return [failure]
        results: list[int | BaseException] = []
        for submission in batch:
            try:
                results.extend(await self._store([submission]))
            except Exception as exc:
                log.warning("intake_write_failed", rows=len(submission.rows), error=exc)
                results.append(exc)
        return results

    async def _store(self, batch: list[_Submission]) -> list[int | BaseException]:
        """One batch into llm_usage through the staging table: rows already stored (or twice in the batch) are
        left out by the engine. Counts are the rows each request handed over."""
        rows = [row for submission in batch for row in submission.rows]
        if not any(submission.dedupe for submission in batch):
            await self.store.insert_rows(rows)  # one statement instead of three
            return [len(submission.rows) for submission in batch]
        await self.store.insert_rows(rows, table=self.staging)
        try:
            # Named, so that only these orgs' cached analyses go stale, not every org's.
            await self.store.command(sql.merge_intake(self.staging), usage_of=orgs_of_rows(rows))
        finally:
            await self.store.command(sql.truncate_table(self.staging))
        return [len(submission.rows) for submission in batch]

    async def _notify(self, batch: list[_Submission], counts: list[int | BaseException]) -> None:
        if self.on_stored is None:
            return
        stored: dict[tuple[str, str], int] = defaultdict(int)
        for submission, count in zip(batch, counts, strict=True):
            if isinstance(count, int) and count and submission.rows:
                stored[(submission.rows[0]["org_id"], submission.source)] += count
        for (org_id, source), count in stored.items():
            try:
                result = self.on_stored(org_id, count, source)
                if result is not None:
                    await result
            except Exception as exc:  # a notice is a hint; the rows are stored whatever happens to it
                log.warning("intake_notice_failed", error=exc)
