"""Numbers, stores and publishes a run's events; makes sure exactly one of them is final."""

from __future__ import annotations

from dataclasses import dataclass

from spendpilot.bus.base import EventBus
from spendpilot.clock import as_utc
from spendpilot.runs.event_log import AlsoWrite, RunAlreadyFinished, RunEventLog
from spendpilot.runs.events import RUN_EVENT_TYPES, UnknownFrameType, encode, is_final
from spendpilot.store.models import Run

__all__ = ["RunAlreadyFinished", "RunEmitter", "RunJob"]


@dataclass(frozen=True)
class RunJob:
    """Everything an executor needs to run one message; also what a worker receives."""

    run_id: str
    thread_id: str
    user_id: str
    org_id: str
    content: str
    deadline_ts: float  # unix seconds

    @classmethod
    def of(cls, run: Run) -> RunJob:
        return cls(run_id=run.id, thread_id=run.thread_id, user_id=run.user_id, org_id=run.org_id,
                   content=run.content, deadline_ts=as_utc(run.deadline_at).timestamp())


class RunEmitter:
    def __init__(self, job: RunJob, log: RunEventLog, bus: EventBus, last_seq: int = 0):
        self.job = job
        self.log = log
        self.bus = bus
        self.seq = last_seq
        self.finished = False

    async def emit(self, type: str, data: dict, also: AlsoWrite | None = None) -> int:
        if self.finished:
            raise RunAlreadyFinished(self.job.run_id)
        if type not in RUN_EVENT_TYPES:
            raise UnknownFrameType(type)
        final = is_final(type, data)
        seq = self.seq + 1
        frame = encode(type, data, run_id=self.job.run_id, thread_id=self.job.thread_id, seq=seq)
        # Claimed before the append so that concurrent emits of one run never share a seq; given
        # back if the event is not stored, so the log never has a gap a live reader would wait on.
        self.seq, self.finished = seq, final
        try:
            # Stored first: a client that resumes can always get what was sent live.
            await self.log.append(self.job.run_id, seq, type, frame, also)
        except Exception:
            # A cancelled caller's event is still stored (the append is shielded): only a failed
            # append gives its seq back.
            if self.seq == seq:
                self.seq, self.finished = seq - 1, False
            raise
        await self.bus.publish_event(self.job.user_id, self.job.run_id, seq, frame)
        return seq
