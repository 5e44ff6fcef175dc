"""A run's event log in the database: appended before sending, replayed for resume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spendpilot.logs import get_logger
from spendpilot.store.database import Database
from spendpilot.store.models import RunEvent

log = get_logger(__name__)

# Work to do in the same transaction as an event (e.g. the final message and run status); runs
# where Database.write runs it, so plain (sync) SQLAlchemy.
AlsoWrite = Callable[[Session], None]


class RunAlreadyFinished(RuntimeError):
    """The run has its final event already; nothing more may be written to it."""


_EVENTS = cast(Table, RunEvent.__table__)
# A Core insert of plain rows: neither ORM objects nor the ORM's bulk path, which cost more CPU than the commit.
_INSERT_EVENTS = insert(_EVENTS)


@dataclass
class _Pending:
    row: dict  # run_id, seq, type, frame
    also: AlsoWrite | None
    done: asyncio.Future


class RunEventLog:
    """Group commit: concurrent appends share one transaction, each waits for its commit."""

    def __init__(self, db: Database):
        self.db = db
        self._pending: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="run-event-log-writer")

    async def close(self) -> None:
        if self._writer:
            while self._pending:
                await asyncio.sleep(0.01)
            self._writer.cancel()

    async def append(self, run_id: str, seq: int, type: str, frame: str, also: AlsoWrite | None = None) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending({"run_id": run_id, "seq": seq, "type": type, "frame": frame}, also, done))
        self._wakeup.set()
        # Shielded: a caller cancelled while waiting must not leave the batch half-acknowledged.
        await asyncio.shield(done)

    async def _write_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self._commit(batch)
            except Exception as exc:  # one bad batch must not stop the writer
                if len(batch) == 1:
                    self._settle(batch[0], exc)
                    continue
                # One refused event (a run ended by another process, a failing extra write) must not
                # fail its neighbours, which may belong to other runs: each is tried on its own.
                for p in batch:
                    try:
                        await self._commit([p])
                    except Exception as one_exc:
                        self._settle(p, one_exc)
                    else:
                        self._settle(p, None)
                continue
            for p in batch:
                self._settle(p, None)

    async def _commit(self, batch: list[_Pending]) -> None:
        rows = [p.row for p in batch]
        also = [p.also for p in batch if p.also is not None]
        if not also:
            # Most batches are events alone.
            await self.db.insert(_EVENTS, rows)
            return

        def write(s: Session) -> None:
            s.execute(_INSERT_EVENTS, rows)
            for extra in also:
                extra(s)

        await self.db.write(write)

    @staticmethod
    def _settle(p: _Pending, exc: BaseException | None) -> None:
        if p.done.done():
            return
        if exc is None:
            p.done.set_result(None)
        else:
            if isinstance(exc, IntegrityError):
                # Another process wrote this seq first (it ended the run); the caller decides.
                log.info("event_log_seq_taken", run_id=p.row["run_id"], seq=p.row["seq"])
            elif not isinstance(exc, RunAlreadyFinished):
                log.error("event_log_write_failed", error=exc, run_id=p.row["run_id"], seq=p.row["seq"])
            p.done.set_exception(exc)

    async def after(self, run_id: str, after_seq: int, upto: int | None = None) -> list[tuple[int, str]]:
        query = select(RunEvent.seq, RunEvent.frame).where(RunEvent.run_id == run_id, RunEvent.seq > after_seq)
        if upto is not None:
            query = query.where(RunEvent.seq <= upto)
        async with self.db.session() as s:
            rows = await s.execute(query.order_by(RunEvent.seq))
            return [(seq, frame) for seq, frame in rows]

    async def last_seq(self, run_id: str) -> int:
        async with self.db.session() as s:
            # An aggregate always yields one row, and coalesce makes its value non-null.
            result = await s.execute(select(func.coalesce(func.max(RunEvent.seq), 0)).where(RunEvent.run_id == run_id))
            return int(result.scalar_one())
