"""The catalogue of server -> client frame types, and the one envelope every frame is encoded in.

Every type the server sends is declared here once. The emitter refuses an undeclared run event,
`is_final` reads the rule from here, the verifier checks against it, and tests hold
docs/protocol.md and the web app's timeline to it. Adding a frame type is one entry below.

Run events carry `run_id`, `thread_id` and `seq` and are stored in the run's event log before
they are sent; connection frames belong to one socket and are never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

from spendpilot.clock import iso, utcnow
from spendpilot.logs import json_safe


@dataclass(frozen=True)
class FrameType:
    name: str
    scope: Literal["run", "connection"]
    fields: tuple[str, ...]
    # always: every frame of this type ends its run; flagged: only when data.final is true.
    final: Literal["never", "always", "flagged"] = "never"


CATALOGUE: tuple[FrameType, ...] = (
    FrameType("agent_started", "run", ("agent", "description")),
    FrameType("agent_thinking", "run", ("agent", "thought")),
    FrameType("tool_executing", "run", ("agent", "tool", "call_id", "args")),
    FrameType("tool_completed", "run", ("agent", "tool", "call_id", "ok", "result", "duration_ms")),
    FrameType("partial_result", "run", ("agent", "delta")),
    FrameType("agent_completed", "run", ("agent", "summary", "duration_ms"), final="flagged"),
    FrameType("agent_error", "run", ("agent", "code", "message", "final"), final="flagged"),
    FrameType("run_cancelled", "run", ("reason", "final"), final="always"),
    FrameType("connection_ready", "connection", ("connection_id", "user_id", "protocol", "heartbeat_s", "resume")),
    FrameType("ack", "connection", ("client_id", "thread_id", "run_id")),
    FrameType("pong", "connection", ("nonce",)),
    FrameType("heartbeat", "connection", ()),
    FrameType("error", "connection", ("code", "message")),
    FrameType("auth_ok", "connection", ("expires_at",)),
    # New usage of the socket's org was stored (live intake); at most one a second per org.
    FrameType("usage_updated", "connection", ("rows", "sources")),
    # An accepted run waits for a free run slot (`up`); its place in the queue, again as it moves up.
    FrameType("run_queued", "connection", ("run_id", "thread_id", "position")),
)

FRAME_TYPES: dict[str, FrameType] = {t.name: t for t in CATALOGUE}
RUN_EVENT_TYPES: frozenset[str] = frozenset(t.name for t in CATALOGUE if t.scope == "run")
CONNECTION_FRAME_TYPES: frozenset[str] = frozenset(t.name for t in CATALOGUE if t.scope == "connection")


class UnknownFrameType(ValueError):
    """A frame type that is not in the catalogue: a server bug, caught before anything is stored."""


def is_final(type: str, data: dict) -> bool:
    """Whether a run event of this type and data ends its run."""
    declared = FRAME_TYPES.get(type)
    if declared is None or declared.final == "never":
        return False
    return declared.final == "always" or data.get("final") is True


def encode(type: str, data: dict, *, run_id: str | None = None, thread_id: str | None = None,
           seq: int | None = None) -> str:
    """The envelope as JSON text: encoded once, then stored and sent as the same bytes."""
    if type not in FRAME_TYPES:
        raise UnknownFrameType(type)
    frame: dict = {"type": type}
    if run_id is not None:
        frame.update(run_id=run_id, thread_id=thread_id, seq=seq)
    frame["ts"] = iso(utcnow())
    frame["data"] = data
    try:
        return orjson.dumps(frame).decode()
    except TypeError:
        # Never let an odd value (an enum, a Decimal) break a socket: degrade it to JSON-safe.
        return orjson.dumps(json_safe(frame)).decode()
