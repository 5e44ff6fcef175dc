"""Drive one run over a socket: send a user_message, collect its ack and events, time the stages."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from spendpilot.verify.client import Conn
from spendpilot.verify.protocol import RUN_TYPES, frame_data, is_final, run_problems

GOLDEN_MESSAGE = "Analyze my AI costs"


@dataclass
class RunOutcome:
    """What one connection saw of one run it started."""

    client_id: str
    sent_at: float
    timeout: float
    # Bounds of the earlier stages (seconds from sending); None: only `timeout` bounds them.
    ack_within: float | None = None
    first_event_within: float | None = None
    ack: dict | None = None
    ack_ms: float | None = None
    first_event_ms: float | None = None
    final_ms: float | None = None
    events: list[dict] = field(default_factory=list)
    early: list[dict] = field(default_factory=list)
    foreign: list[dict] = field(default_factory=list)
    error: dict | None = None
    closed: int | None = None

    @property
    def run_id(self) -> str | None:
        return (self.ack or {}).get("data", {}).get("run_id")

    @property
    def thread_id(self) -> str | None:
        return (self.ack or {}).get("data", {}).get("thread_id")

    @property
    def final(self) -> dict | None:
        finals = [e for e in self.events if is_final(e)]
        return finals[0] if finals else None

    def seqs(self) -> list[Any]:
        """The events' seq values as received; seq_problems and seq_damage judge them."""
        return [e.get("seq") for e in self.events]

    def since(self, start: float) -> float:
        return round((start - self.sent_at) * 1000.0, 1)


async def drive_run(
    conn: Conn,
    *,
    timeout: float,
    content: str = GOLDEN_MESSAGE,
    thread_id: str | None = None,
    grace: float = 0.3,
    on_ack: Callable[[RunOutcome], Awaitable[None]] | None = None,
    stop: Callable[[RunOutcome], bool] | None = None,
    ack_within: float | None = None,
    first_event_within: float | None = None,
) -> RunOutcome:
    """Start a run and read until its final event (plus `grace` seconds), `stop`, or a bound passes.

    Every stage is bounded from the moment of sending: the ack by `ack_within`, the first run
    event by `first_event_within`, the final event by `timeout`. A stage that misses its bound
    ends the wait: nothing later can arrive in time.
    """
    client_id = f"verify-{secrets.token_hex(6)}"
    data: dict = {"content": content}
    if thread_id:
        data["thread_id"] = thread_id
    out = RunOutcome(client_id=client_id, sent_at=time.perf_counter(), timeout=timeout, ack_within=ack_within,
                     first_event_within=first_event_within)
    await conn.send({"type": "user_message", "id": client_id, "data": data})
    final_at: float | None = None
    while True:
        now = time.perf_counter()
        limit = final_at + grace if final_at is not None else out.sent_at + timeout
        if out.ack is None and ack_within is not None:
            limit = min(limit, out.sent_at + ack_within)
        elif not out.events and first_event_within is not None:
            limit = min(limit, out.sent_at + first_event_within)
        if now >= limit:
            break
        try:
            frame = await conn.recv(limit - now)
        except ConnectionClosed:
            out.closed = conn.close_code
            break
        if frame is None:
            break
        now = time.perf_counter()
        kind = frame.get("type")
        payload = frame_data(frame)
        if kind == "ack":
            if payload.get("client_id") == client_id and out.ack is None:
                out.ack, out.ack_ms = frame, out.since(now)
                _adopt_early(out)
                if on_ack is not None:
                    await on_ack(out)
            else:
                out.foreign.append(frame)
        elif kind == "error":
            if payload.get("client_id") == client_id:
                out.error = frame
                break
            out.foreign.append(frame)
        elif kind in RUN_TYPES:
            if out.ack is None:
                out.early.append(frame)
            elif frame.get("run_id") == out.run_id:
                if not out.events:
                    out.first_event_ms = out.since(now)
                out.events.append(frame)
                if is_final(frame) and final_at is None:
                    final_at, out.final_ms = now, out.since(now)
                if stop is not None and stop(out):
                    break
            else:
                out.foreign.append(frame)
    return out


def _adopt_early(out: RunOutcome) -> None:
    """Run events that arrived before the ack stay recorded as early; keep them out of foreign."""
    mine = [e for e in out.early if e.get("run_id") == out.run_id]
    out.foreign += [e for e in out.early if e.get("run_id") != out.run_id]
    out.early = mine
    if mine:
        out.events = list(mine)


def outcome_problems(out: RunOutcome, *, expect_completed: bool = True) -> list[str]:
    """Everything a run's outcome breaks of SPEC §4 (ack, order, seq, one final event)."""
    t = f"{out.timeout:g}s"
    if out.error is not None:
        err = out.error.get("data", {})
        return [f"server refused the message: error {err.get('code')}: {err.get('message')}"]
    if out.ack is None:
        closed = f" (socket closed {out.closed})" if out.closed else ""
        return [f"no ack for client id {out.client_id} within {_bound(out.ack_within, out.timeout)}{closed}"]
    problems: list[str] = []
    ack = out.ack.get("data", {})
    for key in ("client_id", "thread_id", "run_id"):
        if not isinstance(ack.get(key), str):
            problems.append(f"ack lacks {key}")
    if out.early:
        problems.append(f"{len(out.early)} event(s) of the run arrived before its ack")
    if not out.events:
        closed = f"; socket closed {out.closed}" if out.closed else ""
        problems.append(f"ack then no run events within {_bound(out.first_event_within, out.timeout)}{closed}")
        return problems
    if out.final is None:
        last = out.events[-1]
        closed = f"; socket closed {out.closed}" if out.closed else ""
        problems.append(
            f"no final event within {t} ({len(out.events)} events, last seq {last.get('seq')} "
            f"{last.get('type')}{closed})"
        )
    wrong_thread = [e.get("seq") for e in out.events if e.get("thread_id") != out.thread_id]
    if wrong_thread:
        problems.append(f"events with a thread_id other than the ack's: seq {wrong_thread[:5]}")
    problems += [p for p in run_problems(out.events, expect_completed=expect_completed)
                 if out.final is not None or "final event" not in p]
    return problems


def _bound(stage: float | None, timeout: float) -> str:
    return f"{stage if stage is not None else timeout:g}s"


def silence(out: RunOutcome) -> str | None:
    """Which stage of the run the server never answered (no ack, no event, no final), if any."""
    if out.error is not None or out.closed is not None:
        return None  # an answer, if a wrong one: later checks can still tell more
    if out.ack is None:
        return f"no ack within {_bound(out.ack_within, out.timeout)}"
    if not out.events:
        return f"no run events within {_bound(out.first_event_within, out.timeout)}"
    if out.final is None:
        return f"no final event within {out.timeout:g}s"
    return None
