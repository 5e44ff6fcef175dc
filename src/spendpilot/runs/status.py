"""A run's status: queued -> running -> completed | failed | cancelled, and which of them are still open."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A run is open until its final event is stored; only an open run may change status.
OPEN: tuple[RunStatus, ...] = (RunStatus.QUEUED, RunStatus.RUNNING)
