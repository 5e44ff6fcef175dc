"""Which earlier answer of its thread a run follows: read from the store when the run starts executing.

- A message inherits from the thread's last completed run before it (a message queued behind a run
  follows that run once it has completed).
- An edited message follows the last completed run before the message it edits: the answer to the
  original question is not a step of the conversation any more.
- A regenerated answer keeps the period and scope of the answer it replaces, exactly; if that run
  never completed, it starts from what the replaced run started from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from spendpilot.agents.conversation import Basis
from spendpilot.runs.status import RunStatus
from spendpilot.store.database import Database
from spendpilot.store.models import Message, Run

# How far back a chain of regenerations is followed to find the question it answers.
MAX_CHAIN = 100


class ThreadHistory:
    def __init__(self, db: Database):
        self.db = db

    async def basis(self, run_id: str) -> Basis:
        async with self.db.session() as s:
            run = await s.get(Run, run_id)
            if run is None:
                return Basis()
            if run.regenerates:
                replaced = await s.get(Run, run.regenerates)
                if replaced is not None and replaced.status == RunStatus.COMPLETED and replaced.scope is not None:
                    return await _basis_of(s, replaced, regenerates=replaced.id, fixed=True)
                asked_at = await _question_time(s, run)
                earlier = await _last_completed(s, run.thread_id, asked_at)
                if earlier is None:
                    return Basis(regenerates=run.regenerates)
                return await _basis_of(s, earlier, regenerates=run.regenerates)
            earlier = await _last_completed(s, run.thread_id, await _question_time(s, run))
            return await _basis_of(s, earlier) if earlier is not None else Basis()


async def _question_time(s: AsyncSession, run: Run) -> datetime:
    """Where the run's question stands in its thread: when it was first answered (the start of a chain of
    regenerations), or, for an edit, when the message it edits was sent."""
    first = run
    for _ in range(MAX_CHAIN):
        if not first.regenerates:
            break
        previous = await s.get(Run, first.regenerates)
        if previous is None:
            break
        first = previous
    edited = await s.scalar(select(Message.edits).where(Message.run_id == first.id, Message.role == "user"))
    if edited:
        original = await s.get(Message, edited)
        if original is not None:
            return original.created_at
    return first.created_at


async def _last_completed(s: AsyncSession, thread_id: str, before: datetime) -> Run | None:
    return await s.scalar(select(Run).where(Run.thread_id == thread_id, Run.status == RunStatus.COMPLETED,
                                            Run.created_at < before)
                          .order_by(Run.created_at.desc()).limit(1))


async def _basis_of(s: AsyncSession, run: Run, *, regenerates: str | None = None, fixed: bool = False) -> Basis:
    report = await s.scalar(select(Message.report).where(Message.run_id == run.id, Message.role == "assistant"))
    return Basis.of_run(run.id, run.period_from, run.period_to, run.scope, run.intent, report,
                        regenerates=regenerates, fixed=fixed)
