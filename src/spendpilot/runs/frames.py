"""The single server->client envelope, encoded once and stored and sent as the same bytes."""

from __future__ import annotations

import orjson

from spendpilot.clock import iso, utcnow
from spendpilot.logs import json_safe

FINAL_TYPES = frozenset({"run_cancelled"})


def encode(type: str, data: dict, *, run_id: str | None = None, thread_id: str | None = None,
           seq: int | None = None) -> str:
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


def is_final(type: str, data: dict) -> bool:
    return type in FINAL_TYPES or (type in ("agent_completed", "agent_error") and data.get("final") is True)
