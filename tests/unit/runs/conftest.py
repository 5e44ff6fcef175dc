"""Fixtures for the run tests: the real event log and in-process bus over a fresh database, and rows to run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from spendpilot.bus.memory import MemoryBus
from spendpilot.clock import utcnow
from spendpilot.ids import new_id
from spendpilot.runs.emitter import RunJob
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.status import RunStatus
from spendpilot.store.models import Message, Org, Run, RunEvent, Thread, User


@pytest.fixture
async def event_log(db):
    log = RunEventLog(db)
    log.start()
    yield log
    await log.close()


@pytest.fixture
def bus():
    return MemoryBus()


class Rows:
    """Writes the accounts, threads and runs a test needs, and reads back what the code stored."""

    def __init__(self, db):
        self.db = db

    async def user(self) -> User:
        now = utcnow()
        org = Org(id=new_id("org"), name="o", created_at=now)
        user = User(id=new_id("usr"), org_id=org.id, email=f"{new_id('e')}@example.com", name="u", created_at=now)
        async with self.db.session() as s:
            s.add(org)
            await s.flush()
            s.add(user)
            await s.commit()
        return user

    async def thread(self, user: User) -> Thread:
        now = utcnow()
        thread = Thread(id=new_id("thr"), user_id=user.id, org_id=user.org_id, title="t", created_at=now,
                        updated_at=now)
        async with self.db.session() as s:
            s.add(thread)
            await s.commit()
        return thread

    async def run(self, user: User | None = None, status: RunStatus = RunStatus.QUEUED,
                  deadline_s: float = 60.0) -> Run:
        user = user or await self.user()
        thread = await self.thread(user)
        now = utcnow()
        run = Run(id=new_id("run"), thread_id=thread.id, user_id=user.id, org_id=user.org_id,
                  content="Analyze my AI costs", status=status, last_seq=0, created_at=now,
                  deadline_at=now + timedelta(seconds=deadline_s))
        async with self.db.session() as s:
            s.add(run)
            await s.commit()
        return run

    async def job(self, deadline_s: float = 60.0, **run_args) -> RunJob:
        run = await self.run(deadline_s=deadline_s, **run_args)
        return RunJob(run_id=run.id, thread_id=run.thread_id, user_id=run.user_id, org_id=run.org_id,
                      content=run.content, deadline_ts=time.time() + deadline_s)

    async def get_run(self, run_id: str) -> Run:
        async with self.db.session() as s:
            return await s.get(Run, run_id)

    async def events(self, run_id: str) -> list[tuple[int, str]]:
        async with self.db.session() as s:
            return [(seq, type) for seq, type in await s.execute(
                select(RunEvent.seq, RunEvent.type).where(RunEvent.run_id == run_id).order_by(RunEvent.seq))]

    async def messages(self, thread_id: str) -> list[Message]:
        async with self.db.session() as s:
            return list((await s.scalars(select(Message).where(Message.thread_id == thread_id)
                                         .order_by(Message.created_at))).all())


@pytest.fixture
def rows(db) -> Rows:
    return Rows(db)
