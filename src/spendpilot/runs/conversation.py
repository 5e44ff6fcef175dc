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
from sqlalchemy.orm import Session

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
        return await self.db.read(lambda s: _basis_for(s, run_id))


def _basis_for(s: Session, run_id: str) -> Basis:
    run = s.get(Run, run_id)
    if run is None:
        return Basis()
    if run.regenerates:
        replaced = s.get(Run, run.regenerates)
        if replaced is not None and replaced.status == RunStatus.COMPLETED and replaced.scope is not None:
            return _basis_of(s, replaced, regenerates=replaced.id, fixed=True)
        earlier = _last_completed(s, run.thread_id, _question_time(s, run))
        if earlier is None:
            return Basis(regenerates=run.regenerates)
        return _basis_of(s, earlier, regenerates=run.regenerates)
    earlier = _last_completed(s, run.thread_id, _question_time(s, run))
    return _basis_of(s, earlier) if earlier is not None else Basis()


def _question_time(s: Session, run: Run) -> datetime:
    """Where the run's question stands in its thread: when it was first answered (the start of a chain of
    regenerations), or, for an edit, when the message it edits was sent."""
    first = run
    for _ in range(MAX_CHAIN):
        if not first.regenerates:
            break
        previous = s.get(Run, first.regenerates)
        if previous is None:
            break
        first = previous
    edited = s.scalar(select(Message.edits).where(Message.run_id == first.id, Message.role == "user"))
    if edited:
        original = s.get(Message, edited)
        if original is not None:
            return original.created_at
    return first.created_at


def _last_completed(s: Session, thread_id: str, before: datetime) -> Run | None:
    return s.scalar(select(Run).where(Run.thread_id == thread_id, Run.status == RunStatus.COMPLETED,
                                      Run.created_at < before)
                    .order_by(Run.created_at.desc()).limit(1))


def _basis_of(s: Session, run: Run, *, regenerates: str | None = None, fixed: bool = False) -> Basis:
    report = s.scalar(select(Message.report).where(Message.run_id == run.id, Message.role == "assistant"))
    return Basis.of_run(run.id, run.period_from, run.period_to, run.scope, run.intent, report,
                        regenerates=regenerates, fixed=fixed)
