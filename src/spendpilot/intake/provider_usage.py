"""What a gateway call cost, read from the provider's own answer: whole JSON bodies and SSE streams.

Per provider: which paths are billed calls, the facts of a request (model, max_tokens, the hash and size of
its cacheable prefix: system/developer instructions and tools), and a meter that reads usage from the answer.
Only counts and hashes leave this module; prompt and answer text are read to hash or skipped, never kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import orjson

# What the relay does with one SSE event: pass it on, hold it until the call is stored (the stream's last
# event, so a client that saw the end of its stream knows the call is stored), or drop it (the usage chunk
# the gateway asked for on the client's behalf).
Disposition = Literal["forward", "hold", "drop"]

OPENAI_BILLED = frozenset({"chat/completions", "completions", "responses", "embeddings"})
ANTHROPIC_BILLED = frozenset({"messages"})
PREFIX_ROLES = frozenset({"system", "developer"})
STANDARD_TIERS = frozenset({"", "default", "auto", "standard"})
# Providers do not publish a tokenizer for every model; ~4 bytes of UTF-8 JSON per token is their own rule of
# thumb, enough to tell a 300-token prefix from a 3,000-token one (caching pays from 1,024).
BYTES_PER_TOKEN = 4


@dataclass
class CallFacts:
    """What the request says about the call."""

    model: str = ""
    stream: bool = False
    max_tokens: int | None = None
    user: str = ""
    prompt_hash: str = ""
    prefix_hash: str = ""
    prefix_tokens: int = 0


@dataclass
class CallUsage:
    """What the answer says the call used."""

    model: str = ""
    input_tokens: int = 0  # every input token, cache reads and writes included
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    service_tier: str = ""
    complete: bool = False  # the answer reached its normal end (a stream's final event, a whole body)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def _prefix(instructions: list[Any], tools: Any) -> tuple[str, int]:
    if not instructions and not tools:
        return "", 0
    canonical = orjson.dumps({"instructions": instructions, "tools": tools or []}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32], -(-len(canonical) // BYTES_PER_TOKEN)


def _tier(value: Any) -> str:
    tier = str(value or "").strip().lower()[:40]
    return "" if tier in STANDARD_TIERS else tier


def openai_facts(body: dict) -> CallFacts:
    messages = body.get("messages") if isinstance(body.get("messages"), list) else None
    items = body.get("input") if isinstance(body.get("input"), list) else None
    conversation = messages if messages is not None else items or []
    instructions: list[Any] = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    for message in conversation:  # the leading system/developer messages are the prompt's fixed part
        if not isinstance(message, dict) or message.get("role") not in PREFIX_ROLES:
            break
        instructions.append(message.get("content"))
    prefix_hash, prefix_tokens = _prefix(instructions, body.get("tools"))
    prompt = {k: body.get(k) for k in ("messages", "input", "prompt", "instructions", "tools")}
    user = body.get("user") or body.get("safety_identifier") or ""
    return CallFacts(model=str(body.get("model") or "")[:200], stream=body.get("stream") is True,
                     max_tokens=_limit(body, ("max_completion_tokens", "max_tokens", "max_output_tokens")),
                     user=str(user)[:256], prompt_hash=_digest(prompt), prefix_hash=prefix_hash,
                     prefix_tokens=prefix_tokens)


def anthropic_facts(body: dict) -> CallFacts:
    system = body.get("system")
    instructions = [system] if system else []
    prefix_hash, prefix_tokens = _prefix(instructions, body.get("tools"))
    prompt = {k: body.get(k) for k in ("system", "messages", "tools")}
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return CallFacts(model=str(body.get("model") or "")[:200], stream=body.get("stream") is True,
                     max_tokens=_limit(body, ("max_tokens",)), user=str(metadata.get("user_id") or "")[:256],
                     prompt_hash=_digest(prompt), prefix_hash=prefix_hash, prefix_tokens=prefix_tokens)


def _limit(body: dict, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
            return value
    return None


class OpenAIMeter:
    """Usage of chat completions, completions, Responses and embeddings, whole or streamed."""

    def __init__(self, drop_usage_chunk: bool = False):
        # True when the gateway asked for the usage chunk itself: the client did not, and must not get it.
        self.drop_usage_chunk = drop_usage_chunk
        self.usage = CallUsage()

    def _read(self, doc: dict) -> None:
        if isinstance(doc.get("model"), str):
            self.usage.model = doc["model"][:200]
        if doc.get("service_tier"):
            self.usage.service_tier = _tier(doc["service_tier"])
        usage = doc.get("usage")
        if not isinstance(usage, dict):
            return
        u = self.usage
        u.input_tokens = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
        u.output_tokens = _count(usage.get("completion_tokens", usage.get("output_tokens")))
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        u.cached_tokens = min(_count(details.get("cached_tokens")) if isinstance(details, dict) else 0,
                              u.input_tokens)

    def body(self, doc: Any) -> None:
        if isinstance(doc, dict):
            self._read(doc)
            self.usage.complete = True

    def event(self, name: str | None, data: str) -> Disposition:
        if data == "[DONE]":
            self.usage.complete = True
            return "hold"
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return "forward"
        if not isinstance(doc, dict):
            return "forward"
        kind = doc.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            # Responses API: the final event carries the whole response, usage included.
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                if isinstance(doc.get("response"), dict):
                    self._read(doc["response"])
                self.usage.complete = True
                return "hold"
            return "forward"
        self._read(doc)
        if self.drop_usage_chunk and doc.get("usage") and not doc.get("choices"):
            return "drop"
        return "forward"


class AnthropicMeter:
    """Usage of messages, whole or streamed (message_start has the input counts, message_delta the output)."""

    def __init__(self) -> None:
        self.usage = CallUsage()
        self._uncached = 0

    def _read_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        u = self.usage
        # Later events repeat or grow the counts; a count that is absent keeps its earlier value.
        if "input_tokens" in usage:
            self._uncached = _count(usage["input_tokens"])
        if "cache_read_input_tokens" in usage:
            u.cached_tokens = _count(usage["cache_read_input_tokens"])
        if "cache_creation_input_tokens" in usage:
            u.cache_write_tokens = _count(usage["cache_creation_input_tokens"])
        if "output_tokens" in usage:
            u.output_tokens = _count(usage["output_tokens"])
        if usage.get("service_tier"):
            u.service_tier = _tier(usage["service_tier"])
        u.input_tokens = self._uncached + u.cached_tokens + u.cache_write_tokens

    def body(self, doc: Any) -> None:
        if isinstance(doc, dict):
            if isinstance(doc.get("model"), str):
                self.usage.model = doc["model"][:200]
            self._read_usage(doc.get("usage"))
            self.usage.complete = True

    def event(self, name: str | None, data: str) -> Disposition:
        if name not in ("message_start", "message_delta", "message_stop"):
            return "forward"
        if name == "message_stop":
            self.usage.complete = True
            return "hold"
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return "forward"
        if isinstance(doc, dict):
            message = doc.get("message") if name == "message_start" else doc
            if isinstance(message, dict):
                if isinstance(message.get("model"), str):
                    self.usage.model = message["model"][:200]
                self._read_usage(message.get("usage"))
        return "forward"


Meter = OpenAIMeter | AnthropicMeter
