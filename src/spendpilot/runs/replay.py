"""Delivering one run's events to one consumer in seq order, exactly once, filling gaps from the event log.

Events are stored before they are published, so whatever a consumer missed (a resume, a
dropped publish, a replay overlapping live events) is in the log. The socket and the SSE
stream both deliver through a RunCursor.
"""

from __future__ import annotations

from spendpilot.runs.event_log import RunEventLog

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
