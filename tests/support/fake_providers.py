"""A local fake of the OpenAI and Anthropic HTTP APIs: a real uvicorn server with scripted, possibly hostile answers.

Tests never touch the network: point the official SDKs, pydantic-ai or Spendpilot's gateway at this server instead.

    fake = FakeProviders.start()               # or the `fake_providers` fixture
    OpenAI(base_url=fake.openai_url)           # http://127.0.0.1:<port>/v1
    Anthropic(base_url=fake.anthropic_url)     # http://127.0.0.1:<other port>, the API root
    fake.configure(text="...", usage=Usage(input_tokens=900, cached_tokens=512))  # what every request gets
    fake.queue(Reply.calling(ToolCall("get_spend", {"days": 30})), "the answer")  # the next POSTs, in order
    fake.queue_variant(mode="cut", times=2)    # the next two POSTs: the default, cut mid-stream
    fake.requests[-1].headers["authorization"] # what arrived
    fake.stop()                                # afterwards nothing listens on those ports

Each provider has its own port, so both serve their real paths (/v1/chat/completions, /v1/messages, /v1/models...).
Every POST takes the next scripted reply, or the default when the script is empty; GET /v1/models always answers
with the default (so a health probe never eats the script), in the default's mode.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Self

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import fake_anthropic, fake_openai
from .fake_wire import MODES, Frames, Reply, ToolCall, UpstreamDropped, Usage, body_frames, stream_frames

__all__ = ["MODES", "FakeProviders", "ReceivedRequest", "Reply", "ToolCall", "Usage", "fake_providers",
           "unreachable_upstream_url", "unreachable_url"]

SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"


@dataclass
class ReceivedRequest:
    """One request as the fake received it; header names are lower-case."""

    provider: str  # "openai" or "anthropic"
    method: str
    path: str  # as sent, e.g. "/v1/chat/completions"
    query: str
    headers: dict[str, str]
    body: dict | list | None  # parsed JSON, None when empty or not JSON
    raw_body: bytes


class FakeProviders:
    """The running fake: its URLs, the default reply, the script of next replies and every request received."""

    def __init__(self, host: str = "127.0.0.1", default: Reply | None = None):
        self.host = host
        self.default = default or Reply()
        self._initial_default = self.default
        self.openai_models = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small"]
        self.anthropic_models = ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"]
        self._script: deque[Reply] = deque()
        self._received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sockets = [_bound_socket(host), _bound_socket(host)]
        self.openai_port, self.anthropic_port = (sock.getsockname()[1] for sock in self._sockets)
        self._apps = {self.openai_port: self._openai_app(), self.anthropic_port: self._anthropic_app()}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------------

    @classmethod
    def start(cls, host: str = "127.0.0.1", **defaults) -> FakeProviders:
        """Start on two free ports in a background thread; `defaults` are Reply fields for the default reply."""
        fake = cls(host, Reply(**defaults))
        # log_config=None: the test process keeps its own logging setup; only uvicorn's levels are set.
        config = uvicorn.Config(fake._dispatch, log_config=None, log_level="warning", access_log=False,
                                interface="asgi3", lifespan="off", timeout_graceful_shutdown=1)
        fake._server = uvicorn.Server(config)
        fake._thread = threading.Thread(target=fake._server.run, kwargs={"sockets": fake._sockets},
                                        name="fake-providers", daemon=True)
        fake._thread.start()
        deadline = time.monotonic() + 10
        while not fake._server.started:
            if time.monotonic() > deadline or not fake._thread.is_alive():
                raise RuntimeError("the fake providers server did not start")
            time.sleep(0.01)
        return fake

    def stop(self) -> None:
        """Stop serving; the ports are closed, so the URLs now refuse connections (an unreachable upstream)."""
        self._closing.set()
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def openai_url(self) -> str:
        """Base URL for the openai SDK and SPENDPILOT_GATEWAY_OPENAI_URL: it includes /v1."""
        return f"http://{self.host}:{self.openai_port}/v1"

    @property
    def anthropic_url(self) -> str:
        """Base URL for the anthropic SDK and SPENDPILOT_GATEWAY_ANTHROPIC_URL: the API root, without /v1."""
        return f"http://{self.host}:{self.anthropic_port}"

    def gateway_env(self) -> dict[str, str]:
        """Settings that make Spendpilot's gateway forward here (SPEC §9), e.g. for `make_server(env=...)`."""
        return {
            "SPENDPILOT_GATEWAY_OPENAI_URL": self.openai_url,
            "SPENDPILOT_GATEWAY_ANTHROPIC_URL": self.anthropic_url,
        }

    def llm_setting(self, model: str = "llama3.1") -> str:
        """A SPENDPILOT_LLM value that makes Spendpilot's agents stream from this fake."""
        return f"openai-compatible:{model}@{self.openai_url}"

    # --- what to answer ------------------------------------------------------------------------------------------

    def configure(self, **changes) -> None:
        """Change the default reply (any Reply field), used whenever the script is empty."""
        with self._lock:
            self.default = replace(self.default, **changes)

    def queue(self, *replies: Reply | str) -> None:
        """Script the next POST answers, first in first out; a string is the default reply with that text."""
        with self._lock:
            self._script.extend(replace(self.default, text=r) if isinstance(r, str) else r for r in replies)

    def queue_variant(self, times: int = 1, **changes) -> None:
        """Script the next `times` answers as the current default with `changes`, e.g. mode="status", status=429."""
        variant = replace(self.default, **changes)
        with self._lock:
            self._script.extend(variant for _ in range(times))

    @property
    def pending(self) -> int:
        """How many scripted replies are still to be served."""
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Back to the default reply it started with, an empty script and no requests recorded."""
        with self._lock:
            self.default = self._initial_default
            self._script.clear()
            self._received.clear()

    # --- what arrived --------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._received)

    def requests_to(self, path_end: str) -> list[ReceivedRequest]:
        """The requests whose path ends with `path_end`, e.g. "/chat/completions"."""
        return [received for received in self.requests if received.path.endswith(path_end)]

    @property
    def last_request(self) -> ReceivedRequest:
        with self._lock:
            return self._received[-1]

    # --- serving -------------------------------------------------------------------------------------------------

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One server, two listening sockets: the port a request came in on says which provider it is for.
        await self._apps[scope["server"][1]](scope, receive, send)

    def _openai_app(self) -> Starlette:
        api = fake_openai
        routes = [self._route("openai", "/v1/chat/completions", api.chat_completion, api.chat_stream),
                  self._route("openai", "/v1/responses", api.response, api.responses_stream),
                  self._route("openai", "/v1/embeddings", api.embeddings, None),
                  Route("/v1/models", self._models_handler("openai", lambda: api.models(self.openai_models)))]
        return Starlette(routes=routes + [self._not_found("openai")])

    def _anthropic_app(self) -> Starlette:
        api = fake_anthropic
        routes = [self._route("anthropic", "/v1/messages", api.message, api.message_stream),
                  Route("/v1/models", self._models_handler("anthropic", lambda: api.models(self.anthropic_models)))]
        return Starlette(routes=routes + [self._not_found("anthropic")])

    def _route(self, provider: str, path: str, whole: Callable, streamed: Callable | None) -> Route:
        async def handle(request: Request) -> Response:
            body = await self._record(provider, request)
            if not isinstance(body, dict):
                not_an_object = Reply(mode="status", status=400, error_message="Body is not a JSON object.")
                return self._error(provider, not_an_object)
            with self._lock:
                reply = self._script.popleft() if self._script else self.default
            if reply.mode == "status":
                return self._error(provider, reply)
            if streamed is not None and body.get("stream"):
                frames, drop = stream_frames(streamed(reply, body), reply.mode)
                return self._frames(provider, reply, frames, drop, SSE_TYPE)
            frames, drop = body_frames(whole(reply, body), reply.mode)
            return self._frames(provider, reply, frames, drop, JSON_TYPE)

        return Route(path, handle, methods=["POST"])

    def _models_handler(self, provider: str, listing: Callable[[], dict]) -> Callable:
        async def handle(request: Request) -> Response:
            await self._record(provider, request)
            reply = self.default
            if reply.mode == "status":
                return self._error(provider, reply)
            frames, drop = body_frames(listing(), reply.mode)
            return self._frames(provider, reply, frames, drop, JSON_TYPE)

        return handle

    def _not_found(self, provider: str) -> Route:
        async def handle(request: Request) -> Response:
            await self._record(provider, request)
            return self._error(provider, Reply(mode="status", status=404,
                                               error_message=f"Unknown path {request.url.path}"))

        return Route("/{path:path}", handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])

    async def _record(self, provider: str, request: Request) -> dict | list | None:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self._received.append(ReceivedRequest(provider, request.method, request.url.path, request.url.query,
                                                  dict(request.headers), body, raw))
        return body

    def _error(self, provider: str, reply: Reply) -> Response:
        api = fake_openai if provider == "openai" else fake_anthropic
        extra = {"retry-after": reply.retry_after} if reply.retry_after is not None else {}
        payload = json.dumps(api.error(reply.status, reply.error_message)).encode()
        return Frames([payload], status_code=reply.status, media_type=JSON_TYPE, headers={**api.headers(), **extra},
                      first_byte_delay_s=0.0, frame_delay_s=0.0, drop=False, closing=self._closing)

    def _frames(self, provider: str, reply: Reply, frames: list[bytes], drop: bool, media_type: str) -> Response:
        api = fake_openai if provider == "openai" else fake_anthropic
        headers = {**api.headers(), **({"cache-control": "no-cache"} if media_type == SSE_TYPE else {})}
        return Frames(frames, status_code=200, media_type=media_type, headers=headers,
                      first_byte_delay_s=reply.slow_s if reply.mode == "slow" else 0.0,
                      frame_delay_s=reply.chunk_delay_s, drop=drop, closing=self._closing)


def _bound_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextlib.contextmanager
def unreachable_url(host: str = "127.0.0.1") -> Iterator[str]:
    """A base URL where connecting is refused: the port is held (bound, never listening), so nothing else takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((host, 0))
        yield f"http://{host}:{holder.getsockname()[1]}"


class _HideDeliberateDrops(logging.Filter):
    """uvicorn logs an exception that closes a connection; a "drop" is on purpose, so it stays out of test output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_drop(record.exc_info[1] if record.exc_info else None)


def _is_drop(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, UpstreamDropped):
            return True
        if isinstance(exc, BaseExceptionGroup):
            return any(_is_drop(inner) for inner in exc.exceptions)
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())


@pytest.fixture
def fake_providers() -> Iterator[FakeProviders]:
    """A fresh fake per test, stopped afterwards. Import it into a test module or conftest to use it."""
    fake = FakeProviders.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def unreachable_upstream_url() -> Iterator[str]:
    """A URL that refuses connections, for the gateway's 502 path (append /v1 for an OpenAI base URL)."""
    with unreachable_url() as url:
        yield url
