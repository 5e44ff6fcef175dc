"""While this process has lost its Redis pub/sub link, feed its sockets from the event log.

Events are stored before they are published, so nothing is lost when Redis is down, only
not pushed. Every second this hands each local socket the newest stored event of its
user's runs that were under way during the outage; the socket fills the gap before it from
the log and drops what it already has, so delivery stays exactly-once and in order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import or_, select

from spendpilot.logs import get_logger
from spendpilot.runs.status import OPEN
from spendpilot.store.models import Run, RunEvent

log = get_logger(__name__)

# Runs that finished this long before the outage began may have lost their last publishes.
MARGIN_S = 5.0


class DegradedDelivery:
    def __init__(self, *, db, bus, interval_s: float = 1.0):
        self.db = db
        self.bus = bus
        self.interval_s = interval_s
        self._delivered: dict[str, int] = {}
        self._outage: float | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="degraded-delivery")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            down_since = self.bus.down_since
            try:
                if down_since is not None:
                    self._outage = down_since if self._outage is None else min(self._outage, down_since)
                    await self.tick(self._outage)
                elif self._outage is not None:
                    # Back online: one last pass covers what was stored while re-subscribing.
                    await self.tick(self._outage)
                    self._outage = None
                    self._delivered.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("degraded_delivery_failed", error=exc)

    async def tick(self, outage_started: float) -> int:
        users = self.bus.local_users()
        if not users:
            return 0
        cutoff = datetime.fromtimestamp(outage_started - MARGIN_S, UTC)
        sent = 0
        async with self.db.session() as s:
            runs = (await s.execute(select(Run.id, Run.user_id).where(
                Run.user_id.in_(users), or_(Run.status.in_(OPEN), Run.finished_at >= cutoff)))).all()
            for run_id, user_id in runs:
                newest = (await s.execute(select(RunEvent.seq, RunEvent.frame).where(RunEvent.run_id == run_id)
                                          .order_by(RunEvent.seq.desc()).limit(1))).first()
                if newest is None or newest.seq <= self._delivered.get(run_id, 0):
                    continue
                self._delivered[run_id] = newest.seq
                self.bus.dispatch_local(user_id, run_id, newest.seq, newest.frame)
                sent += 1
        return sent
