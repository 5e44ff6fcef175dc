"""Accepting messages as runs, reading runs and their events, cancelling: ownership checked here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from weakref import WeakValueDictionary

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spendpilot.auth.service import Principal
from spendpilot.bus.base import EventBus
from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.errors import Conflict, InvalidInput, NotFound, RateLimited
from spendpilot.ids import new_id
from spendpilot.runs.emitter import RunJob
from spendpilot.runs.ending import end_with_error
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.executors import RunExecutor
from spendpilot.runs.status import OPEN, RunStatus
from spendpilot.store.database import Database
from spendpilot.store.models import Message, Run, Thread, User

MAX_CONTENT_CHARS = 32_000


@dataclass(frozen=True)
class Accepted:
    thread_id: str
    run_id: str
    # The user message the run answers (for a regenerate: the question answered again).
    message_id: str
    job: RunJob
    # A regenerate: the run whose answer the new run replaces.
    regenerates: str | None = None

    def view(self) -> dict:
        """As REST answers an accepted run (202)."""
        shown = {"run_id": self.run_id, "thread_id": self.thread_id, "message_id": self.message_id,
                 "status": "queued"}
        if self.regenerates is not None:
            shown["regenerates"] = self.regenerates
        return shown


def run_view(run: Run) -> dict:
    view = {"id": run.id, "thread_id": run.thread_id, "status": run.status, "last_seq": run.last_seq,
            "created_at": iso(run.created_at), "finished_at": iso(run.finished_at)}
    # What a completed answer covered (SPEC §13), and the answer a regenerated run replaces.
    if run.scope is not None:
        view.update(period={"from": run.period_from, "to": run.period_to}, scope=run.scope, intent=run.intent)
    if run.regenerates:
        view["regenerates"] = run.regenerates
    return view


def _checked(content: str) -> str:
    content = content.strip()
    if not content:
        raise InvalidInput("invalid_message", "content must not be empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidInput("invalid_message", f"content must be at most {MAX_CONTENT_CHARS} characters")
    return content


def _owned_thread(s: Session, principal: Principal, thread_id: str) -> Thread:
    thread = s.get(Thread, thread_id)
    if thread is None or thread.user_id != principal.user_id or thread.org_id != principal.org_id:
        raise NotFound.of("thread")
    return thread


def _last_question(s: Session, thread_id: str) -> Message | None:
    return s.scalar(select(Message).where(Message.thread_id == thread_id, Message.role == "user")
                          .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))


def _stored(s: Session, thread: Thread, run: Run, content: str, message_id: str,
            message: Message | None = None, regenerates: str | None = None) -> Accepted:
    """Adds the run (and its message) to the transaction; what was accepted, once it commits."""
    run.thread_id, run.content = thread.id, content
    s.add_all([run, *([message] if message is not None else [])])
    # The deadline counts from acceptance, here as for every run.
    job = RunJob(run_id=run.id, thread_id=thread.id, user_id=run.user_id, org_id=run.org_id, content=content,
                 deadline_ts=as_utc(run.deadline_at).timestamp())
    return Accepted(thread.id, run.id, message_id, job, regenerates)


def title_from(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "..."


class RunService:
    def __init__(self, db: Database, event_log: RunEventLog, bus: EventBus, executor: RunExecutor,
                 deadline_s: float, max_active_per_user: int):
        self.db = db
        self.event_log = event_log
        self.bus = bus
        self.executor = executor
        self.deadline_s = deadline_s
        self.max_active_per_user = max_active_per_user
        self._user_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def _user_lock(self, user_id: str) -> asyncio.Lock:
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = self._user_locks[user_id] = asyncio.Lock()
        return lock

    async def accept(self, principal: Principal, content: str, thread_id: str | None,
                     client_id: str | None = None, *, run_id: str | None = None,
                     create_thread: bool = False) -> Accepted:
        """Persist the user message and its run (one transaction), then hand the run to an executor.

        Clients that name their own conversations and runs (AG-UI) pass `run_id`, and `create_thread`
        to start the thread `thread_id` when no thread has that id yet; an id already taken is a conflict.
        """
        content = _checked(content)

        def fill(s: Session, now: datetime, run: Run) -> Accepted:
            existing = s.get(Thread, thread_id) if thread_id is not None else None
            if thread_id is None or (existing is None and create_thread):
                thread = Thread(id=thread_id or new_id("thr"), user_id=principal.user_id, org_id=principal.org_id,
                                title=title_from(content), created_at=now, updated_at=now)
                s.add(thread)
                s.flush()
            else:
                thread = _owned_thread(s, principal, thread_id)
                thread.updated_at = now
            message = Message(id=new_id("msg"), thread_id=thread.id, user_id=principal.user_id, role="user",
                              content=content, run_id=run.id, client_id=client_id, created_at=now)
            return _stored(s, thread, run, content, message.id, message)

        return await self._write_run(principal, fill, run_id)

    async def regenerate(self, principal: Principal, thread_id: str, client_id: str | None = None) -> Accepted:
        """A new run that answers the thread's last question again; the answer it replaces stays in history."""
        def fill(s: Session, now: datetime, run: Run) -> Accepted:
            thread = _owned_thread(s, principal, thread_id)
            question = _last_question(s, thread.id)
            if question is None:
                raise InvalidInput("invalid_message", "this conversation has no message to answer again")
            # After its last question a thread only gets answers to it: the newest run is the answer replaced.
            replaced = s.scalar(select(Run.id).where(Run.thread_id == thread.id, Run.created_at >= question.created_at)
                                .order_by(Run.created_at.desc()).limit(1))
            run.regenerates = replaced or question.run_id
            thread.updated_at = now
            return _stored(s, thread, run, question.content, question.id, regenerates=run.regenerates)

        return await self._write_run(principal, fill)

    async def edit(self, principal: Principal, thread_id: str, message_id: str, content: str,
                   client_id: str | None = None) -> Accepted:
        """The thread's last message, edited: stored as a new message (`edits` names the original) and run."""
        content = _checked(content)

        def fill(s: Session, now: datetime, run: Run) -> Accepted:
            thread = _owned_thread(s, principal, thread_id)
            question = _last_question(s, thread.id)
            if question is None or question.id != message_id:
                raise InvalidInput("invalid_message", "only the last message of a conversation can be edited")
            thread.updated_at = now
            message = Message(id=new_id("msg"), thread_id=thread.id, user_id=principal.user_id, role="user",
                              content=content, run_id=run.id, client_id=client_id, created_at=now, edits=message_id)
            return _stored(s, thread, run, content, message.id, message)

        return await self._write_run(principal, fill)

    async def _write_run(self, principal: Principal, fill: Callable[[Session, datetime, Run], Accepted],
                         run_id: str | None = None) -> Accepted:
        """One new run, once the user may start another: `fill(session, now, run)` completes it in the same
        transaction (thread, message) and says what was accepted."""
        # A run that could not start before its deadline is refused now rather than accepted to
        # end unscheduled: half the deadline leaves the run itself time to finish.
        if self.executor.expected_wait_s() > self.deadline_s / 2:
            raise RateLimited("the server is at capacity; send the message again in a moment",
                              retry_after_s=5, code="server_busy")
        now = utcnow()
        run = Run(id=run_id or new_id("run"), user_id=principal.user_id, org_id=principal.org_id, content="",
                  status=RunStatus.QUEUED, last_seq=0, created_at=now,
                  deadline_at=now + timedelta(seconds=self.deadline_s))
        postgresql = self.db.engine_name == "postgresql"

        def write(s: Session) -> Accepted:
            # Count and insert as one step per user: in this process by a lock, across processes by
            # locking the user's row (PostgreSQL; on SQLite, one process, the lock is enough).
            if postgresql:
                s.execute(select(User.id).where(User.id == principal.user_id).with_for_update())
            active = s.scalar(select(Run.id).where(Run.user_id == principal.user_id, Run.status.in_(OPEN))
                              .offset(self.max_active_per_user - 1).limit(1))
            if active is not None:
                raise RateLimited(f"at most {self.max_active_per_user} runs may be active at once",
                                  code="too_many_runs")
            if run_id is not None and s.get(Run, run_id) is not None:
                raise Conflict("run_exists", "a run with this id already exists")
            return fill(s, now, run)

        async with self._user_lock(principal.user_id):
            try:
                return await self.db.write(write)
            except IntegrityError as exc:
                # Two requests naming the same new thread or run at once: one of them wins.
                raise Conflict("id_taken", "this thread or run id was just taken; retry") from exc

    async def start(self, accepted: Accepted) -> None:
        await self.executor.submit(accepted.job)

    async def owned_run(self, principal: Principal, run_id: str) -> Run:
        async with self.db.session() as s:
            run = await s.get(Run, run_id)
        if run is None or run.user_id != principal.user_id or run.org_id != principal.org_id:
            raise NotFound.of("run")
        return run

    async def events_after(self, principal: Principal, run_id: str, after_seq: int) -> list[tuple[int, str]]:
        await self.owned_run(principal, run_id)
        return await self.event_log.after(run_id, after_seq)

    async def cancel(self, principal: Principal, run_id: str) -> Run:
        run = await self.owned_run(principal, run_id)
        if run.status in OPEN:
            await self.bus.request_cancel(run_id)
        return run

    async def end_interrupted_runs(self) -> int:
        """After a restart no run may stay open: each one left unfinished gets its final event."""
        async with self.db.session() as s:
            runs = (await s.scalars(select(Run).where(Run.status.in_(OPEN)))).all()
        for run in runs:
            await end_with_error(self.event_log, self.bus, run, "interrupted")
        return len(runs)
