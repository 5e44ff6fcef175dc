"""Delivering one run's events to one consumer in seq order, exactly once, filling gaps from the event log.

Events are stored before they are published, so whatever a consumer missed (a resume, a
dropped publish, a replay overlapping live events) is in the log. The socket delivers through a
RunCursor; the HTTP streams (SSE, AG-UI) follow one run to its end with `follow_run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from spendpilot.bus.base import EventBus
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.events import is_final

Event = tuple[int, str]  # (seq, frame)


class RunCursor:
    def __init__(self, event_log: RunEventLog, run_id: str, delivered: int = 0):
        self.event_log = event_log
        self.run_id = run_id
        self.delivered = delivered  # the highest seq handed to the consumer

    def skip_to(self, seq: int) -> None:
        """The consumer already has everything up to `seq` (e.g. a resume from after_seq)."""
        self.delivered = max(self.delivered, seq)

    async def replay(self) -> list[Event]:
        """Everything stored after what was delivered."""
        events = await self.event_log.after(self.run_id, self.delivered)
        if events:
            self.delivered = events[-1][0]
        return events

    async def receive(self, seq: int, frame: str) -> list[Event]:
        """A live event arrived: what to deliver now, in order (nothing twice, nothing out of order)."""
        if seq <= self.delivered:
            return []
        out: list[Event] = []
        if seq > self.delivered + 1:
            out = await self.event_log.after(self.run_id, self.delivered, upto=seq - 1)
            if out:
                self.delivered = out[-1][0]
            if self.delivered != seq - 1:
                return out  # the log has not caught up (it always should): deliver nothing out of order
        out.append((seq, frame))
        self.delivered = seq
        return out


async def follow_run(event_log: RunEventLog, bus: EventBus, user_id: str, run_id: str, after: int, *,
                     idle_s: float, gone: Callable[[], Awaitable[bool]]) -> AsyncIterator[Event | None]:
    """One run's events after `after`: what the log holds, then live ones, ending with the final event.

    Yields None after `idle_s` without an event (for a keep-alive), and stops early once `gone()` says
    the consumer left; the run itself goes on (a consumer that comes back resumes from the log).
    """
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def on_event(event_run: str, seq: int, frame: str) -> None:
        if event_run == run_id:
            queue.put_nowait((seq, frame))

    # Subscribed before reading the log, so nothing published in between is missed.
    unsubscribe = bus.subscribe_user(user_id, on_event)
    cursor = RunCursor(event_log, run_id, after)
    try:
        events = await cursor.replay()
        while True:
            for event in events:
                yield event
                if _ends(event[1]):
                    return
            if await gone():
                return
            try:
                seq, frame = await asyncio.wait_for(queue.get(), timeout=idle_s)
            except TimeoutError:
                yield None
                events = []
                continue
            events = await cursor.receive(seq, frame)
    finally:
        unsubscribe()


def _ends(frame: str) -> bool:
    event = orjson.loads(frame)
    return is_final(event["type"], event.get("data", {}))
