"""Ending a run: of several concurrent enders exactly one writes the final event and the status, together."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.runs.ending import ERROR_MESSAGES, end_cancelled, end_with_error, error_event, write_final
from spendpilot.runs.events import is_final
from spendpilot.runs.status import OPEN, RunStatus

FINAL_STATUS = {"agent_completed": RunStatus.COMPLETED, "agent_error": RunStatus.FAILED,
                "run_cancelled": RunStatus.CANCELLED}


async def final_events(event_log, run_id: str) -> list[dict]:
    frames = [orjson.loads(frame) for _, frame in await event_log.after(run_id, 0)]
    return [f for f in frames if is_final(f["type"], f["data"])]


async def started_run(rows, event_log, bus, events: int = 2):
    """A running run with a few events already stored."""
    run = await rows.run(status=RunStatus.RUNNING)
    emitter = RunEmitter(RunJob.of(run), event_log, bus)
    for i in range(events):
        await emitter.emit("agent_thinking", {"agent": "supervisor", "thought": str(i)})
    return run, emitter


async def test_the_executor_ends_its_run_with_status_answer_and_final_event_together(rows, event_log, bus):
    run, emitter = await started_run(rows, event_log, bus)
    answer = {"final_response": "## Spend\nAll good.", "report": {"total_monthly_savings_usd": 0}}
    data = {"agent": "supervisor", "summary": "s", "duration_ms": 3, "final": True, **answer}
    assert await write_final(emitter, "agent_completed", data, RunStatus.COMPLETED, answer) is True
    stored = await rows.get_run(run.id)
    assert (stored.status, stored.last_seq) == (RunStatus.COMPLETED, 3)
    assert stored.finished_at is not None
    assert await rows.events(run.id) == [(1, "agent_thinking"), (2, "agent_thinking"), (3, "agent_completed")]
    [message] = [m for m in await rows.messages(run.thread_id) if m.role == "assistant"]
    assert (message.content, message.report, message.run_id) == (answer["final_response"], answer["report"], run.id)


async def test_of_concurrent_enders_exactly_one_wins(rows, event_log, bus):
    run, emitter = await started_run(rows, event_log, bus)
    answer = {"final_response": "done", "report": {}}
    results = await asyncio.gather(
        write_final(emitter, "agent_completed", {"agent": "supervisor", "summary": "s", "duration_ms": 1,
                                                 "final": True, **answer}, RunStatus.COMPLETED, answer),
        end_with_error(event_log, bus, run, "deadline_exceeded"),
        end_with_error(event_log, bus, run, "worker_lost"),
        end_cancelled(event_log, bus, run),
        end_cancelled(event_log, bus, run, reason="shutdown"),
    )
    assert sorted(results) == [False, False, False, False, True]
    [final] = await final_events(event_log, run.id)
    stored = await rows.get_run(run.id)
    # The status, last_seq and answer all belong to the one final event that was stored.
    assert stored.status == FINAL_STATUS[final["type"]]
    assert stored.last_seq == final["seq"] == 3
    assert await event_log.last_seq(run.id) == 3
    assistant = [m for m in await rows.messages(run.thread_id) if m.role == "assistant"]
    assert len(assistant) == (1 if final["type"] == "agent_completed" else 0)


async def test_each_of_many_racing_enders_sees_the_same_single_winner(rows, event_log, bus):
    run, _ = await started_run(rows, event_log, bus, events=0)
    results = await asyncio.gather(*(end_with_error(event_log, bus, run, "interrupted") for _ in range(4)),
                                   *(end_cancelled(event_log, bus, run) for _ in range(4)))
    assert results.count(True) == 1
    assert len(await final_events(event_log, run.id)) == 1
    assert [seq for seq, _ in await rows.events(run.id)] == [1]


async def test_a_run_ended_once_refuses_every_later_ending(rows, event_log, bus):
    run, emitter = await started_run(rows, event_log, bus)
    assert await end_cancelled(event_log, bus, run) is True
    assert await end_with_error(event_log, bus, run, "deadline_exceeded") is False
    assert await write_final(emitter, "agent_error", error_event("data", "internal_error"), RunStatus.FAILED,
                             None) is False
    assert emitter.finished
    assert await rows.events(run.id) == [(1, "agent_thinking"), (2, "agent_thinking"), (3, "run_cancelled")]
    assert (await rows.get_run(run.id)).status == RunStatus.CANCELLED


@pytest.mark.parametrize("code", sorted(ERROR_MESSAGES))
async def test_end_with_error_fails_the_run_with_its_message(rows, event_log, bus, code):
    run, _ = await started_run(rows, event_log, bus)
    seen: list[dict] = []
    bus.subscribe_user(run.user_id, lambda run_id, seq, frame: seen.append(orjson.loads(frame)))
    assert await end_with_error(event_log, bus, run, code) is True
    [final] = await final_events(event_log, run.id)
    assert final["type"] == "agent_error" and final["seq"] == 3
    assert final["data"] == {"agent": "supervisor", "code": code, "final": True, "message": ERROR_MESSAGES[code]}
    assert seen == [final]
    stored = await rows.get_run(run.id)
    assert (stored.status, stored.last_seq) == (RunStatus.FAILED, 3)
    assert stored.finished_at is not None


async def test_end_cancelled_cancels_a_queued_run_with_its_reason(rows, event_log, bus):
    run = await rows.run(status=RunStatus.QUEUED)
    assert await end_cancelled(event_log, bus, run) is True
    assert await end_cancelled(event_log, bus, run, reason="again") is False
    [final] = await final_events(event_log, run.id)
    assert (final["type"], final["seq"], final["data"]) == ("run_cancelled", 1,
                                                            {"reason": "cancelled by user", "final": True})
    assert (await rows.get_run(run.id)).status == RunStatus.CANCELLED


async def test_end_cancelled_carries_a_given_reason(rows, event_log, bus):
    run = await rows.run(status=RunStatus.RUNNING)
    await end_cancelled(event_log, bus, run, reason="server shutting down")
    [final] = await final_events(event_log, run.id)
    assert final["data"]["reason"] == "server shutting down"


def test_only_queued_and_running_are_open_statuses():
    assert set(OPEN) == {RunStatus.QUEUED, RunStatus.RUNNING}
    assert [s.value for s in RunStatus] == ["queued", "running", "completed", "failed", "cancelled"]
    # Stored and compared as plain strings.
    assert RunStatus.FAILED == "failed" and f"{RunStatus.CANCELLED}" == "cancelled"
