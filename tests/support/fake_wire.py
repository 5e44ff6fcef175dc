"""What a fake provider answers (text, tool calls, usage, hostile modes) and how the answer goes on the wire."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

# normal: the provider's usual answer. cut: a stream ends mid-sentence, cleanly, without its finishing frames (no
# finish_reason, no [DONE], no message_stop); a plain body ends half-way. length: the answer stops on the token limit.
# slow: nothing is sent for `slow_s` seconds. malformed: one frame (or the body) is not valid JSON. status: an HTTP
# error in the provider's error shape. drop: the connection is closed mid-answer, as when an upstream dies.
Mode = Literal["normal", "cut", "length", "slow", "malformed", "status", "drop"]
MODES: tuple[str, ...] = get_args(Mode)

DEFAULT_TEXT = "Over the last 30 days you spent $1,284.40 on LLM calls; gpt-4o accounts for 71% of it."


@dataclass
class Usage:
    """Token counts sent as given; each provider puts them in its own fields (see fake_openai, fake_anthropic)."""

    input_tokens: int = 1200  # OpenAI prompt_tokens / input_tokens; Anthropic input_tokens (the uncached part)
    output_tokens: int = 85  # OpenAI completion_tokens / output_tokens; Anthropic output_tokens
    cached_tokens: int = 0  # OpenAI *_tokens_details.cached_tokens; Anthropic cache_read_input_tokens
    cache_write_tokens: int = 0  # Anthropic cache_creation_input_tokens
    reasoning_tokens: int = 0  # OpenAI completion_tokens_details / output_tokens_details.reasoning_tokens
    web_search_requests: int | None = None  # Anthropic usage.server_tool_use.web_search_requests, when not None


@dataclass
class ToolCall:
    """A function call the model asks for; `arguments` is a dict (sent as JSON text) or raw JSON text."""

    name: str
    arguments: dict | str = field(default_factory=dict)
    id: str | None = None  # made up per provider (call_..., toolu_...) when None

    @property
    def arguments_json(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments, separators=(",", ":"))


@dataclass
class Reply:
    """One canned answer: text and/or tool calls, the model echoed, usage, pacing and a hostile mode."""

    text: str = DEFAULT_TEXT
    tool_calls: list[ToolCall] = field(default_factory=list)
    model: str | None = None  # None echoes the request's model
    usage: Usage = field(default_factory=Usage)
    chunks: list[str] | None = None  # how the text is split in a stream; None splits it word by word
    chunk_delay_s: float = 0.0
    mode: Mode = "normal"
    slow_s: float = 2.0  # how long "slow" waits before the first byte
    status: int = 500  # for "status"
    retry_after: str | None = None  # Retry-After header value for "status", e.g. "1" on a 429
    error_message: str | None = None  # overrides the provider's usual message for `status`

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")

    @classmethod
    def calling(cls, *calls: ToolCall, **fields) -> Reply:
        """A reply that only asks for tool calls, as a model does when it wants data first."""
        return cls(text="", tool_calls=list(calls), **fields)

    def text_chunks(self) -> list[str]:
        if not self.text:
            return []
        if self.chunks is not None:
            return list(self.chunks)
        # Words with their trailing space, as tokens arrive; joined they give back the text exactly.
        return re.findall(r"\s*\S+\s*", self.text) or [self.text]


def argument_fragments(arguments_json: str, pieces: int = 3) -> list[str]:
    """Tool-call arguments split into a few fragments, as providers stream them."""
    size = max(1, -(-len(arguments_json) // pieces))
    return [arguments_json[i:i + size] for i in range(0, len(arguments_json), size)] or [""]


ALPHANUMERIC = string.ascii_letters + string.digits


def random_id(prefix: str, length: int, alphabet: str = ALPHANUMERIC) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def sse(data: dict | str, event: str | None = None) -> bytes:
    """One server-sent event; `data` as given when it is text (so a frame can be deliberately broken)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


@dataclass
class StreamPlan:
    """A stream in three parts: opening frames, content frames (cut and broken half-way), finishing frames."""

    head: list[bytes]
    body: list[bytes]
    tail: list[bytes]
    malformed: bytes  # the broken frame "malformed" slips in half-way through the body


class UpstreamDropped(Exception):
    """Raised inside the app to make the server close the connection mid-answer ("drop" mode)."""


class Frames(Response):
    """A response sent frame by frame with pauses, possibly ending early or dropping the connection."""

    def __init__(self, frames: Iterable[bytes], *, status_code: int, media_type: str, headers: dict[str, str],
                 first_byte_delay_s: float, frame_delay_s: float, drop: bool, closing: threading.Event):
        # Not Response.__init__: it would announce a Content-Length of 0; frames go out chunked, as providers send.
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.raw_headers = [(b"content-type", media_type.encode())]
        self.raw_headers += [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]
        self.frames = list(frames)
        self.first_byte_delay_s = first_byte_delay_s
        self.frame_delay_s = frame_delay_s
        self.drop = drop
        self.closing = closing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await pause(self.first_byte_delay_s, self.closing)
        # Headers go out with the first frame, so a slow provider is slow to the first byte, not just the body.
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for index, frame in enumerate(self.frames):
            if index and self.frame_delay_s:
                await pause(self.frame_delay_s, self.closing)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            # Let each frame leave as its own TCP write, as a provider's stream does.
            await asyncio.sleep(0)
        if self.drop:
            raise UpstreamDropped("connection dropped on purpose")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def pause(seconds: float, closing: threading.Event) -> None:
    """Sleep, but give up at once when the server stops, so stopping never waits on a slow answer."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while not closing.is_set() and (left := until - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.05))


def stream_frames(plan: StreamPlan, mode: str) -> tuple[list[bytes], bool]:
    """The frames a stream sends in `mode`, and whether the connection is then dropped."""
    half = max(1, len(plan.body) // 2)
    if mode == "cut":
        return plan.head + plan.body[:half], False
    if mode == "drop":
        return plan.head + plan.body[:half], True
    if mode == "malformed":
        return plan.head + plan.body[:half] + [plan.malformed] + plan.body[half:] + plan.tail, False
    return plan.head + plan.body + plan.tail, False


def body_frames(payload: dict, mode: str) -> tuple[list[bytes], bool]:
    """A JSON body as frames in `mode`: whole, cut half-way, with trailing garbage, or dropped half-way."""
    text = json.dumps(payload, indent=2).encode()
    half = len(text) // 2
    if mode == "cut":
        return [text[:half]], False
    if mode == "drop":
        return [text[:half]], True
    if mode == "malformed":
        return [text + b'\n{"error": '], False
    return [text], False
