"""Socket.IO load driver for the Chainlit peer: N users at once, each its own socket, timing first event and answer.

Run with the peer's venv: bench/peers/.venv/bin/python bench/peers/chainlit_driver.py --url http://127.0.0.1:8000
--users 50. It speaks what Chainlit's own frontend speaks (socket.io on /ws/socket.io, the `auth` payload with a
session id, `connection_successful`, then `client_message`), and prints one JSON summary (see driver_common).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from driver_common import Sample, arguments, phase, report, since, summarise

QUESTION = "Analyze my AI costs"
ANSWER_CHARS = 800
# Events of the task itself rather than of the answer: task_start acknowledges the message (the server emits it
# before on_message runs) and first_interaction names the thread on the session's first message.
NOT_CONTENT = {"task_start", "first_interaction", "task_end"}


class User:
    """One browser tab: its own Chainlit session and socket."""

    def __init__(self, url: str, transports: list[str]):
        self.url = url
        self.transports = transports
        # The browser offers permessage-deflate and Chainlit's uvicorn accepts it; aiohttp offers it only when
        # asked, and Spendpilot's driver (websockets) offers it by default, so both sides compress alike.
        self.sio = socketio.AsyncClient(reconnection=False, websocket_extra_options={"compress": 15})
        self.sio.on("*", self._on_event)
        self.sio.on("disconnect", self._on_disconnect)
        self.handshake = asyncio.Event()
        self.done = asyncio.Event()
        self.sample: Sample | None = None
        self.started = False
        self.answer_chars = 0

    def _on_event(self, event: str, data=None) -> None:
        sample = self.sample
        if sample is None:
            # connection_successful is answered with task_end, clear_ask and clear_call_fn, in that order.
            if event == "clear_call_fn":
                self.handshake.set()
            return
        if event == "task_start":
            sample.ack_ms = sample.ack_ms or since(sample.sent)
            self.started = True
        if not self.started:
            return
        sample.events += 1
        if event not in NOT_CONTENT and sample.first_ms is None:
            sample.first_ms = since(sample.sent)
        if event == "new_message" and isinstance(data, dict) and data.get("type") == "assistant_message":
            # send() after streaming re-sends the answer whole; an ErrorMessage would arrive here too.
            self.answer_chars = len(data.get("output") or "")
            if data.get("isError"):
                sample.error = "error_message"
        elif event == "task_end" and self.started:
            sample.final_ms = since(sample.sent)
            if sample.error is None and self.answer_chars != ANSWER_CHARS:
                sample.error = f"answer:{self.answer_chars}_chars"
            self.done.set()

    def _on_disconnect(self, *_reason) -> None:
        if self.sample is not None and not self.done.is_set():
            self.sample.error = "closed"
            self.done.set()

    async def connect(self, timeout: float) -> None:
        # The frontend's auth payload: it creates the WebsocketSession (no login, no thread to resume).
        auth = {"clientType": "webapp", "sessionId": str(uuid.uuid4()), "threadId": "", "userEnv": "{}",
                "chatProfile": ""}
        await self.sio.connect(self.url, socketio_path="/ws/socket.io", transports=self.transports, auth=auth,
                               wait_timeout=timeout)
        await self.sio.emit("connection_successful")
        async with asyncio.timeout(timeout):
            await self.handshake.wait()

    async def ask(self, timeout: float) -> Sample:
        message = {"id": str(uuid.uuid4()), "threadId": "", "name": "User", "type": "user_message", "output": QUESTION,
                   "createdAt": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        self.done.clear()
        self.started, self.answer_chars = False, 0
        self.sample = sample = Sample(sent=time.perf_counter())
        await self.sio.emit("client_message", {"message": message, "fileReferences": []})
        try:
            async with asyncio.timeout(timeout):
                await self.done.wait()
        except TimeoutError:
            sample.error = "timeout"
        self.sample = None
        return sample

    async def close(self) -> None:
        # Closing is best effort: the numbers are already taken.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.sio.disconnect()


async def run(args) -> None:
    transports = args.transports.split(",")
    for _ in range(min(args.warmup, 1)):
        warm = User(args.url, transports)
        await warm.connect(args.timeout)
        for _ in range(args.warmup):
            await warm.ask(args.timeout)
        await warm.close()
    await phase("accounts", args.stepped)

    users = [User(args.url, transports) for _ in range(args.users)]
    connect_ms: list[float] = []
    connect_errors: Counter = Counter()

    async def connect(user: User) -> bool:
        started = time.perf_counter()
        try:
            await user.connect(args.timeout)
        except (socketio.exceptions.ConnectionError, TimeoutError, OSError) as exc:
            connect_errors[f"connect:{type(exc).__name__}"] += 1
            return False
        connect_ms.append(since(started))
        return True

    opened = await asyncio.gather(*(connect(u) for u in users))
    live = [u for u, ok in zip(users, opened, strict=True) if ok]
    await phase("connected", args.stepped, open=len(live))

    async def converse(user: User) -> list[Sample]:
        return [await user.ask(args.timeout) for _ in range(args.messages)]

    samples = [s for batch in await asyncio.gather(*(converse(u) for u in live)) for s in batch]
    await report(summarise(samples, args.users, args.messages, connect_ms, connect_errors), args.stepped)
    await asyncio.gather(*(u.close() for u in live))


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--transports", default="websocket",
                        help="socket.io transports; the frontend's default is polling,websocket (long-polling first, "
                             "then an upgrade).")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
