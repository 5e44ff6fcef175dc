"""`usage_updated` notices: an org's sockets learn that new usage is stored, at most once a second per org.

At thousands of spans a second a notice per insert would make every open Usage page refetch its summary many
times a second; the first batch is announced at once and the rest of each second in one trailing notice.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from spendpilot.bus.base import EventBus, usage_topic
from spendpilot.logs import get_logger
from spendpilot.runs.events import encode

log = get_logger(__name__)

NOTICE_EVERY_S = 1.0


@dataclass
class _OrgState:
    last_sent: float = 0.0
    rows: int = 0
    sources: set[str] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None


class UsageNotices:
    def __init__(self, bus: EventBus, every_s: float = NOTICE_EVERY_S):
        self.bus = bus
        self.every_s = every_s
        self._orgs: dict[str, _OrgState] = defaultdict(_OrgState)
        self._sending: set[asyncio.Task] = set()

    async def stored(self, org_id: str, rows: int, source: str) -> None:
        state = self._orgs[org_id]
        state.rows += rows
        state.sources.add(source)
        wait = state.last_sent + self.every_s - time.monotonic()
        if wait <= 0:
            await self._send(org_id)
        elif state.timer is None:
            state.timer = asyncio.get_running_loop().call_later(wait, self._send_later, org_id)

    def _send_later(self, org_id: str) -> None:
        task = asyncio.ensure_future(self._send(org_id))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, org_id: str) -> None:
        state = self._orgs.pop(org_id, None)
        if state is None or not state.rows:
            return
        if state.timer is not None:
            state.timer.cancel()
        # Keep the time of this notice, so the next batch within the second waits for the trailing one.
        self._orgs[org_id] = _OrgState(last_sent=time.monotonic())
        frame = encode("usage_updated", {"rows": state.rows, "sources": sorted(state.sources)})
        try:
            await self.bus.publish_notice(usage_topic(org_id), frame)
        except Exception as exc:
            log.warning("usage_notice_failed", error=exc)

    def close(self) -> None:
        for state in self._orgs.values():
            if state.timer is not None:
                state.timer.cancel()
        self._orgs.clear()
