"""RunEmitter: numbers a run's events from 1 without gaps, stores before publishing, and stops at the final one."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import orjson
import pytest

from spendpilot.runs.emitter import RunAlreadyFinished, RunEmitter
from spendpilot.runs.events import UnknownFrameType


@pytest.fixture
async def job(rows):
    return await rows.job()


@pytest.fixture
def published(bus, job):
    """What the bus delivered to the run owner's subscribers, with what the log held at that moment."""
    seen: list[tuple[str, int, dict]] = []
    bus.subscribe_user(job.user_id, lambda run_id, seq, frame: seen.append((run_id, seq, orjson.loads(frame))))
    return seen


async def test_events_are_numbered_from_1_without_gaps(job, event_log, bus, published, rows):
    emitter = RunEmitter(job, event_log, bus)
    seqs = [await emitter.emit("agent_thinking", {"agent": "triage", "thought": str(i)}) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert [seq for seq, _ in await rows.events(job.run_id)] == [1, 2, 3, 4, 5]
    assert [(run_id, seq, f["seq"], f["run_id"], f["thread_id"]) for run_id, seq, f in published] == [
        (job.run_id, n, n, job.run_id, job.thread_id) for n in range(1, 6)]


async def test_an_emitter_continues_after_the_last_stored_seq(job, event_log, bus):
    first = RunEmitter(job, event_log, bus)
    await first.emit("agent_started", {"agent": "supervisor", "description": "d"})
    await first.emit("agent_thinking", {"agent": "supervisor", "thought": "t"})
    second = RunEmitter(job, event_log, bus, last_seq=await event_log.last_seq(job.run_id))
    assert await second.emit("agent_thinking", {"agent": "supervisor", "thought": "t"}) == 3


async def test_an_event_is_stored_before_it_is_published(job, event_log, bus, tmp_path):
    stored_when_published: list[list[int]] = []

    def on_event(run_id, seq, frame):
        # Read the database file directly, synchronously, at the moment the bus hands the event on.
        with closing(sqlite3.connect(tmp_path / "t.db")) as conn:
            stored_when_published.append([row[0] for row in conn.execute(
                "SELECT seq FROM run_events WHERE run_id = ? ORDER BY seq", (run_id,))])

    bus.subscribe_user(job.user_id, on_event)
    emitter = RunEmitter(job, event_log, bus)
    await emitter.emit("agent_started", {"agent": "supervisor", "description": "d"})
    await emitter.emit("agent_thinking", {"agent": "supervisor", "thought": "t"})
    assert stored_when_published == [[1], [1, 2]]


async def test_the_stored_and_the_published_frame_are_the_same_bytes(job, event_log, bus):
    frames: list[str] = []
    bus.subscribe_user(job.user_id, lambda run_id, seq, frame: frames.append(frame))
    emitter = RunEmitter(job, event_log, bus)
    await emitter.emit("tool_executing", {"agent": "data", "tool": "spend", "call_id": "call_1", "args": {}})
    assert await event_log.after(job.run_id, 0) == [(1, frames[0])]


async def test_an_undeclared_type_is_refused_before_anything_is_stored(job, event_log, bus, published, rows):
    emitter = RunEmitter(job, event_log, bus)
    for undeclared in ("agent_typing", "pong", "ack"):  # connection frames are not run events either
        with pytest.raises(UnknownFrameType):
            await emitter.emit(undeclared, {})
    assert await rows.events(job.run_id) == [] and published == []
    assert await emitter.emit("agent_thinking", {"agent": "a", "thought": "t"}) == 1


@pytest.mark.parametrize(("type", "data"), [
    ("agent_completed", {"agent": "supervisor", "summary": "s", "duration_ms": 1, "final": True}),
    ("agent_error", {"agent": "data", "code": "internal_error", "message": "m", "final": True}),
    ("run_cancelled", {"reason": "cancelled by user", "final": True}),
])
async def test_nothing_is_emitted_after_the_final_event(job, event_log, bus, rows, type, data):
    emitter = RunEmitter(job, event_log, bus)
    await emitter.emit("agent_started", {"agent": "supervisor", "description": "d"})
    assert await emitter.emit(type, data) == 2
    assert emitter.finished
    for later_type, later_data in (("agent_thinking", {"agent": "a", "thought": "t"}), (type, data)):
        with pytest.raises(RunAlreadyFinished):
            await emitter.emit(later_type, later_data)
    assert await rows.events(job.run_id) == [(1, "agent_started"), (2, type)]


async def test_a_non_final_completion_does_not_end_the_run(job, event_log, bus):
    emitter = RunEmitter(job, event_log, bus)
    await emitter.emit("agent_completed", {"agent": "triage", "summary": "s", "duration_ms": 1})
    await emitter.emit("agent_error", {"agent": "data", "code": "c", "message": "m", "final": False})
    assert not emitter.finished
    assert await emitter.emit("agent_thinking", {"agent": "a", "thought": "t"}) == 3


async def test_an_event_that_could_not_be_stored_does_not_use_up_its_seq(job, event_log, bus, rows):
    emitter = RunEmitter(job, event_log, bus)
    await emitter.emit("agent_started", {"agent": "supervisor", "description": "d"})

    def database_unavailable(_session):
        raise ConnectionError("database unavailable")

    with pytest.raises(ConnectionError):
        await emitter.emit("agent_thinking", {"agent": "supervisor", "thought": "t"}, also=database_unavailable)
    await emitter.emit("agent_thinking", {"agent": "supervisor", "thought": "t"})
    assert [seq for seq, _ in await rows.events(job.run_id)] == [1, 2]
