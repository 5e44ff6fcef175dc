"""Runs due connectors every SPENDPILOT_CONNECTOR_POLL_S in every API process; the lease in the
connectors table makes each pull happen on one of them only."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from spendpilot.logs import get_logger

from .service import ConnectorService

log = get_logger(__name__)


class ConnectorScheduler:
    def __init__(self, service: ConnectorService, poll_s: float) -> None:
        self.service = service
        self.poll_s = poll_s
        # Names the instance holding a lease (host and process), for operators reading the table.
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="connector-scheduler")

    async def _loop(self) -> None:
        while True:
            try:
                await self.service.run_due(self.owner)
            except Exception:  # the schedule outlives any one failure; the next tick tries again
                log.exception("connector_schedule_failed")
            await asyncio.sleep(self.poll_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
