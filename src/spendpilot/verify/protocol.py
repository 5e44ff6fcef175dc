"""Pure checks of spendpilot.v1 frames and run event sequences, shared by verify and bench."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypeGuard

from spendpilot.runs.events import CONNECTION_FRAME_TYPES, RUN_EVENT_TYPES
from spendpilot.runs.events import is_final as is_final_event

# The frame catalogue and handshake rules are the server's own declarations (runs.events,
# realtime.handshake): the verifier holds a deployment to exactly what Spendpilot promises.
CONNECTION_TYPES = CONNECTION_FRAME_TYPES
RUN_TYPES = RUN_EVENT_TYPES
AGENT_TYPES = RUN_TYPES - {"run_cancelled"}


def ws_url(base: str, path: str = "/ws") -> str:
    """Map an http(s) base URL to the ws(s) URL of `path`."""
    base = base.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + path


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite JSON number (bool excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def frame_data(frame: dict) -> dict:
    """A frame's `data` object, or an empty one where it is missing or not an object."""
    data = frame.get("data")
    return data if isinstance(data, dict) else {}


def is_final(frame: dict) -> bool:
    """Whether a run event ends its run."""
    return is_final_event(str(frame.get("type")), frame_data(frame))


def envelope_problems(frame: Any) -> list[str]:
    """What is wrong with one server frame's envelope (empty list when it is fine)."""
    if not isinstance(frame, dict):
        return [f"frame is not a JSON object: {str(frame)[:80]}"]
    kind = frame.get("type")
    problems: list[str] = []
    if not isinstance(kind, str):
        return [f"frame without a string type: {str(frame)[:80]}"]
    if not isinstance(frame.get("data"), dict):
        problems.append(f"{kind}: data is not an object")
    ts = frame.get("ts")
    if not isinstance(ts, str):
        problems.append(f"{kind}: ts missing")
    else:
        try:
            datetime.fromisoformat(ts)
        except ValueError:
            problems.append(f"{kind}: ts {ts!r} is not ISO 8601")
    if kind in RUN_TYPES:
        if not isinstance(frame.get("run_id"), str) or not isinstance(frame.get("thread_id"), str):
            problems.append(f"{kind}: run event without run_id/thread_id")
        seq = frame.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            problems.append(f"{kind}: run event without an integer seq")
    elif kind in CONNECTION_TYPES:
        present = [k for k in ("run_id", "thread_id", "seq") if k in frame]
        if present:
            problems.append(f"{kind}: connection frame carries {', '.join(present)} at top level")
    else:
        problems.append(f"unknown frame type {kind!r}")
    return problems


def seq_problems(seqs: list[Any], *, start: int = 1) -> list[str]:
    """Gaps, duplicates and disorder in a list of seqs that should run start, start+1, ..."""
    problems: list[str] = []
    seen: set[int] = set()
    expected = start
    for seq in seqs:
        if not isinstance(seq, int) or isinstance(seq, bool):
            problems.append(f"seq {seq!r} is not an integer")
            continue
        if seq in seen:
            problems.append(f"seq {seq} received twice")
            continue
        if seq != expected:
            problems.append(f"seq {seq} where {expected} was expected")
        seen.add(seq)
        expected = seq + 1
    return problems


def run_problems(events: list[dict], *, expect_completed: bool = True) -> list[str]:
    """Check one run's events (in arrival order) against the ordering guarantees of SPEC §4."""
    if not events:
        return ["no run events"]
    problems = seq_problems([e.get("seq") for e in events])
    first = events[0]
    root = (first.get("data") or {}).get("agent")
    cancelled_at_once = len(events) == 1 and is_final(first) and first.get("type") != "agent_completed"
    if first.get("type") != "agent_started" and not cancelled_at_once:
        problems.append(f"first event is {first.get('type')}, not the root agent_started")
    # Agent names and call ids as the server sent them: checked for being strings, not assumed to be.
    started: set[Any] = set()
    open_calls: dict[Any, tuple[Any, Any]] = {}
    seen_calls: set[Any] = set()
    finals: list[int] = []
    for index, event in enumerate(events):
        kind = event.get("type")
        data = frame_data(event)
        agent = data.get("agent")
        where = f"seq {event.get('seq')} {kind}"
        if kind not in RUN_TYPES:
            problems.append(f"{where}: not a spendpilot.v1 run event")
            continue
        if kind in AGENT_TYPES and not isinstance(agent, str):
            problems.append(f"{where}: no agent")
        if kind == "agent_started":
            started.add(agent)
        elif kind in AGENT_TYPES and agent not in started:
            problems.append(f"{where}: agent {agent!r} has not started")
        if kind == "tool_executing":
            call_id = data.get("call_id")
            if not isinstance(call_id, str) or call_id in seen_calls:
                problems.append(f"{where}: missing or repeated call_id {call_id!r}")
            seen_calls.add(call_id)
            open_calls[call_id] = (agent, data.get("tool"))
        elif kind == "tool_completed":
            call_id = data.get("call_id")
            if call_id not in open_calls:
                problems.append(f"{where}: call_id {call_id!r} completed before executing")
            elif open_calls.pop(call_id) != (agent, data.get("tool")):
                problems.append(f"{where}: call_id {call_id!r} completed by another agent/tool")
            if not isinstance(data.get("ok"), bool):
                problems.append(f"{where}: ok is not a boolean")
        if is_final(event):
            finals.append(index)
    if len(finals) != 1:
        problems.append(f"{len(finals)} final events (exactly one expected)")
    elif finals[0] != len(events) - 1:
        problems.append(f"final event at position {finals[0] + 1} of {len(events)}, not last")
    if expect_completed and finals:
        final = events[finals[-1]]
        data = final.get("data") or {}
        if final.get("type") != "agent_completed":
            problems.append(f"run ended with {final.get('type')}: {str(data)[:200]}")
        else:
            if data.get("agent") != root:
                problems.append(f"final agent_completed is from {data.get('agent')!r}, not root {root!r}")
            if not isinstance(data.get("final_response"), str) or not data["final_response"].strip():
                problems.append("final agent_completed has no final_response")
            if not isinstance(data.get("report"), dict):
                problems.append("final agent_completed has no report object")
        if open_calls:
            problems.append(f"tool calls never completed: {sorted(map(str, open_calls))}")
        if not any(
            e.get("type") == "tool_completed"
            and (e.get("data") or {}).get("ok") is True
            and (e.get("data") or {}).get("result") is not None
            for e in events
        ):
            problems.append("no tool_completed with ok and a result")
    return problems

