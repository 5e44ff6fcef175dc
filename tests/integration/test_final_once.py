"""On real PostgreSQL: processes racing to end the same runs write exactly one final event per run.

Three engines stand for three processes: a worker executing the run and two watchdogs that
decide at random moments that it is lost. Whatever the interleaving, each run gets seq
1..N without gaps, one final event, last, and a status that matches it.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from spendpilot.bus.memory import MemoryBus
from spendpilot.clock import utcnow
from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.runs.ending import end_cancelled, end_with_error
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.events import is_final
from spendpilot.runs.runner import execute_run
from spendpilot.store.database import Database
from spendpilot.store.models import Org, Run, RunEvent, Thread, User
from tests.integration.cluster import create_database, drop_database

pytestmark = pytest.mark.services

RUNS = 40
STATUS_OF = {"agent_completed": "completed", "agent_error": "failed", "run_cancelled": "cancelled"}


class _NoAnalytics:
    """The race pipeline calls no tools."""


class _Open:
    async def __aenter__(self):
        return None

    async def __aexit__(self, *exc):
        return None


async def _pipeline(ctx):
    await ctx.emit("agent_started", {"agent": "supervisor", "description": "race"})
    for i in range(random.randint(0, 12)):
        await ctx.emit("agent_thinking", {"agent": "supervisor", "thought": str(i)})
        await asyncio.sleep(random.uniform(0, 0.004))
    return {"summary": "done", "duration_ms": 1.0, "final_response": "done", "report": {}}


async def _seed(db: Database) -> list[Run]:
    now = utcnow()
    async with db.session() as s:
        s.add(Org(id="org_race", name="race", created_at=now))
        await s.flush()
        s.add(User(id="usr_race", org_id="org_race", email="race@example.com", name="race", created_at=now))
        await s.flush()
        s.add(Thread(id="thr_race", user_id="usr_race", org_id="org_race", title="race", created_at=now,
                     updated_at=now))
        await s.flush()
        runs = [Run(id=f"run_race{i:03d}", thread_id="thr_race", user_id="usr_race", org_id="org_race",
                    content="race", status="queued", last_seq=0, created_at=now,
                    deadline_at=now + timedelta(seconds=60)) for i in range(RUNS)]
        s.add_all(runs)
        await s.commit()
    return runs


async def _race(url: str) -> None:
    # Processes starting together migrate the same empty database at once.
    dbs = [Database(url) for _ in range(3)]
    await asyncio.gather(*(db.migrate() for db in dbs))
    logs = [RunEventLog(db) for db in dbs]
    for log in logs:
        log.start()
    bus = MemoryBus()
    try:
        runs = await _seed(dbs[0])

        async def worker(run: Run) -> None:
            job = RunJob.of(run)
            await execute_run(job, RunEmitter(job, logs[0], bus), pipeline=_pipeline, cancel=asyncio.Event(),
                              thread_gate=_Open(), analytics=_NoAnalytics(), model=None)

        async def watchdog(run: Run, n: int, delay: float) -> None:
            await asyncio.sleep(delay)
            if n == 1:
                await end_with_error(logs[n], bus, run, "worker_lost")
            else:
                await end_cancelled(logs[n], bus, run)

        async def contest(i: int, run: Run) -> None:
            if i % 4 == 0:  # a watchdog ends it first; the worker and the other come too late
                await watchdog(run, 1, 0)
                await asyncio.gather(worker(run), watchdog(run, 2, 0))
            elif i % 4 == 1:  # a cancel ends it before it starts
                await watchdog(run, 2, 0)
                await asyncio.gather(worker(run), watchdog(run, 1, 0))
            elif i % 4 == 2:  # the worker finishes; both watchdogs are late
                await worker(run)
                await asyncio.gather(watchdog(run, 1, 0), watchdog(run, 2, 0))
            else:  # all three at once, at random moments
                await asyncio.gather(worker(run), watchdog(run, 1, random.uniform(0, 0.05)),
                                     watchdog(run, 2, random.uniform(0, 0.05)))

        random.seed(7)
        await asyncio.gather(*(contest(i, run) for i, run in enumerate(runs)))

        async with dbs[0].session() as s:
            assert await s.scalar(text("SELECT count(*) FROM alembic_version")) == 1
            winners = set()
            for run in runs:
                rows = (await s.execute(select(RunEvent.seq, RunEvent.type, RunEvent.frame)
                                        .where(RunEvent.run_id == run.id).order_by(RunEvent.seq))).all()
                frames = [json.loads(frame) for _, _, frame in rows]
                assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1)), run.id
                finals = [f for f in frames if is_final(f["type"], f["data"])]
                assert len(finals) == 1, f"{run.id}: {len(finals)} final events"
                assert finals[0] == frames[-1], f"{run.id}: events after the final one"
                stored = await s.get(Run, run.id)
                assert stored.status == STATUS_OF[finals[0]["type"]]
                assert stored.last_seq == len(rows)
                winners.add(finals[0]["type"])
        # Every kind of writer won some runs, and the losers were refused.
        assert winners == {"agent_completed", "agent_error", "run_cancelled"}, winners
    finally:
        for log in logs:
            await log.close()
        for db in dbs:
            await db.close()


def test_racing_writers_leave_exactly_one_final_event_per_run(postgres_admin):
    url = create_database(postgres_admin)
    try:
        asyncio.run(_race(url.replace("postgresql://", "postgresql+asyncpg://", 1)))
    finally:
        drop_database(url, postgres_admin)
