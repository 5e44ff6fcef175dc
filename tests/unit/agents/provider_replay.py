"""A real local HTTP server that speaks the OpenAI and Anthropic wire formats by replaying recorded responses."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

RECORDINGS = Path(__file__).parent / "recordings"


def load(name: str) -> dict:
    return json.loads((RECORDINGS / name).read_text())


@dataclass
class Exchange:
    name: str
    recording: dict
    delay_s: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: dict | None
    served: str | None


@dataclass
class ProviderReplay:
    """Answers each request with the next queued recording, in order, and keeps what it was sent."""

    host: str = "127.0.0.1"
    port: int = 0
    queue: deque = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._closing = threading.Event()
        routes = [Route("/v1/chat/completions", self._handle, methods=["POST"]),
                  Route("/v1/messages", self._handle, methods=["POST"]),
                  Route("/v1/models", self._handle, methods=["GET"])]
        self.app = Starlette(routes=routes)
        self._server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def expect(self, *names: str, delay_s: float = 0.0) -> None:
        """Queue recordings to serve, in order; delay_s makes each one wait before answering."""
        with self._lock:
            for name in names:
                self.queue.append(Exchange(name, load(name), delay_s))

    def reset(self) -> None:
        with self._lock:
            self.queue.clear()
            self.received.clear()
            self.mismatches.clear()

    def pending(self) -> list[str]:
        with self._lock:
            return [exchange.name for exchange in self.queue]

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        body = json.loads(raw) if raw else None
        with self._lock:
            exchange = self.queue.popleft() if self.queue else None
            self.received.append(Received(request.method, request.url.path, dict(request.headers), body,
                                          exchange.name if exchange else None))
        if exchange is None:
            self.mismatches.append(f"unexpected {request.method} {request.url.path}: no recording queued")
            return JSONResponse({"error": {"message": "no recording queued", "type": "test_error"}}, status_code=418)
        expected = exchange.recording["request"]
        problem = _mismatch(expected, request, body)
        if problem:
            self.mismatches.append(f"{exchange.name}: {problem}")
            return JSONResponse({"error": {"message": problem, "type": "test_error"}}, status_code=418)
        # A slow provider; it gives up at once when the server stops, so shutdown never waits on it.
        until = time.monotonic() + exchange.delay_s
        while time.monotonic() < until and not self._closing.is_set():
            await asyncio.sleep(0.05)
        return _response(exchange.recording["response"])

    def start(self) -> ProviderReplay:
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="provider-replay", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the provider replay server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server:
            self._server.should_exit = True
            self._thread.join(timeout=10)


def _mismatch(expected: dict, request: Request, body: dict | None) -> str | None:
    if expected.get("method", "POST") != request.method:
        return f"expected {expected.get('method')}, got {request.method}"
    if expected.get("path") and expected["path"] != request.url.path:
        return f"expected {expected['path']}, got {request.url.path}"
    if "stream" in expected and bool((body or {}).get("stream")) != expected["stream"]:
        return f"expected stream={expected['stream']}, got stream={bool((body or {}).get('stream'))}"
    return None


def _response(recorded: dict) -> Response:
    headers = {k: v for k, v in recorded.get("headers", {}).items() if k.lower() != "content-type"}
    media_type = recorded.get("headers", {}).get("content-type", "application/json")
    if "sse" in recorded:
        async def events():
            for event in recorded["sse"]:
                data = event["data"] if isinstance(event["data"], str) else json.dumps(event["data"])
                prefix = f"event: {event['event']}\n" if "event" in event else ""
                yield f"{prefix}data: {data}\n\n".encode()
                # Let each event leave as its own chunk, as a provider's stream does.
                await asyncio.sleep(0)
        return StreamingResponse(events(), status_code=recorded["status"], headers=headers, media_type=media_type)
    return Response(json.dumps(recorded["json"]), status_code=recorded["status"], headers=headers,
                    media_type=media_type)
