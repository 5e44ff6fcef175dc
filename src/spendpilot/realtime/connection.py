"""One socket's outbound side: a single ordered queue, per-run cursors, replay and gap filling."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from starlette.websockets import WebSocket, WebSocketState

from spendpilot.auth.service import Principal
from spendpilot.ids import new_id
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.events import encode
from spendpilot.runs.replay import RunCursor

# A new connection waits this long before joining runs already under way, so that a client
# reconnecting with `resume` gets exactly its missing events instead of the whole history.
RESUME_GRACE_S = 1.0


class Connection:
    def __init__(self, websocket: WebSocket, principal: Principal, event_log: RunEventLog):
        self.id = new_id("conn")
        self.websocket = websocket
        self.principal = principal
        self.event_log = event_log
        self.opened = time.monotonic()
        self._queue: asyncio.Queue = asyncio.Queue()
        # What this connection has delivered of each run (events are sent in seq order).
        self._cursors: dict[str, RunCursor] = {}
        # Events of runs under way before this socket opened, held during the resume grace.
        self._parked: dict[str, list[tuple[int, str]]] = defaultdict(list)
        self._grace_over = False
        # Set when the caller lost the right to this socket: nothing queued is sent any more.
        self._revoked: tuple[int, str] | None = None

    # Producers (any task on the loop): enqueue only, never block.
    def send(self, frame: str) -> None:
        self._queue.put_nowait(("frame", frame))

    def send_ack(self, frame: str, run_id: str) -> None:
        self._queue.put_nowait(("ack", frame, run_id))

    def on_event(self, run_id: str, seq: int, frame: str) -> None:
        self._queue.put_nowait(("event", run_id, seq, frame))

    def resume(self, run_id: str, after_seq: int) -> None:
        self._queue.put_nowait(("resume", run_id, after_seq))

    def end_grace(self) -> None:
        self._queue.put_nowait(("grace_over",))

    def close_soon(self, code: int, reason: str) -> None:
        self._queue.put_nowait(("close", code, reason))

    def revoke(self, reason: str) -> None:
        """Close with 1008 ahead of anything still queued: the session or membership behind it ended."""
        self._revoked = (1008, reason)
        self._queue.put_nowait(("close", 1008, reason))

    async def send_loop(self) -> None:
        """The only writer to the socket, so frames go out in the order decided here."""
        while True:
            item = await self._queue.get()
            if self._revoked is not None:
                item = ("close", *self._revoked)
            kind = item[0]
            if kind == "frame":
                await self._write(item[1])
            elif kind == "event":
                await self._deliver(item[1], item[2], item[3])
            elif kind == "ack":
                await self._write(item[1])
                self._cursor(item[2])
            elif kind == "resume":
                await self._replay(item[1], item[2])
            elif kind == "grace_over":
                self._grace_over = True
                for run_id, events in list(self._parked.items()):
                    self._cursor(run_id)
                    for seq, frame in events:
                        await self._deliver(run_id, seq, frame)
                self._parked.clear()
            elif kind == "close":
                if self.websocket.client_state == WebSocketState.CONNECTED:
                    await self.websocket.close(item[1], item[2])
                return

    def _cursor(self, run_id: str, delivered: int = 0) -> RunCursor:
        cursor = self._cursors.get(run_id)
        if cursor is None:
            cursor = self._cursors[run_id] = RunCursor(self.event_log, run_id, delivered)
        return cursor

    async def _deliver(self, run_id: str, seq: int, frame: str) -> None:
        if run_id not in self._cursors and seq > 1 and not self._grace_over:
            self._parked[run_id].append((seq, frame))
            return
        # A run joined mid-way is delivered from its start, in order.
        for _, event in await self._cursor(run_id).receive(seq, frame):
            await self._write(event)

    async def _replay(self, run_id: str, after_seq: int) -> None:
        cursor = self._cursor(run_id, after_seq)
        cursor.skip_to(after_seq)
        for _, event in await cursor.replay():
            await self._write(event)
        # Anything parked for this run is now either delivered or newer than the cursor.
        for seq, frame in self._parked.pop(run_id, []):
            await self._deliver(run_id, seq, frame)

    async def _write(self, frame: str) -> None:
        await self.websocket.send_text(frame)

    def error(self, code: str, message: str, client_id: str | None = None) -> None:
        data = {"code": code, "message": message}
        if client_id is not None:
            data["client_id"] = client_id
        self.send(encode("error", data))
