"""A run's event log in the database: appended before sending, replayed for resume."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from spendpilot.logs import get_logger
from spendpilot.store.database import Database
from spendpilot.store.models import RunEvent

log = get_logger(__name__)

# Work to do in the same transaction as an event (e.g. the final message and run status).
AlsoWrite = Callable[[AsyncSession], Awaitable[None]]


@dataclass
class _Pending:
    event: RunEvent
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
        self._pending.append(_Pending(RunEvent(run_id=run_id, seq=seq, type=type, frame=frame), also, done))
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
                async with self.db.session() as s:
                    s.add_all([p.event for p in batch])
                    for p in batch:
                        if p.also is not None:
                            await p.also(s)
                    await s.commit()
            except Exception as exc:  # one bad batch must not stop the writer
                log.error("event_log_write_failed", error=exc, events=len(batch))
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            for p in batch:
                if not p.done.done():
                    p.done.set_result(None)

    async def after(self, run_id: str, after_seq: int, upto: int | None = None) -> list[tuple[int, str]]:
        query = select(RunEvent.seq, RunEvent.frame).where(RunEvent.run_id == run_id, RunEvent.seq > after_seq)
        if upto is not None:
            query = query.where(RunEvent.seq <= upto)
        async with self.db.session() as s:
            rows = await s.execute(query.order_by(RunEvent.seq))
            return [(seq, frame) for seq, frame in rows]

    async def last_seq(self, run_id: str) -> int:
        async with self.db.session() as s:
            return int(await s.scalar(select(func.coalesce(func.max(RunEvent.seq), 0))
                                      .where(RunEvent.run_id == run_id)))
