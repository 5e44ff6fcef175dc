"""The AG-UI view of a run: each run event maps to valid ag-ui-protocol events, and the run always closes cleanly."""

from __future__ import annotations

from datetime import datetime

import orjson
from ag_ui.core import EventType

from spendpilot.interop.agui_events import AguiRun
from spendpilot.runs.events import encode
from tests.support.agui import EVENT, check_sequence

RUN, THREAD = "run_1", "thr_1"


def frames(*events: tuple[str, dict]) -> list[dict]:
    """Run events as the log stores them (the real envelope), numbered from 1."""
    return [orjson.loads(encode(type, data, run_id=RUN, thread_id=THREAD, seq=seq))
            for seq, (type, data) in enumerate(events, 1)]


def view_of(*events: tuple[str, dict]) -> list:
    view = AguiRun(THREAD, RUN)
    out = [view.started()]
    for frame in frames(*events):
        out.extend(view.feed(frame))
    # What goes on the wire must read back as the same events through the package's models.
    return [EVENT.validate_json(e.model_dump_json(by_alias=True)) for e in out]


STEPS = (
    ("agent_started", {"agent": "supervisor", "description": "d"}),
    ("agent_thinking", {"agent": "supervisor", "thought": "plan"}),
    ("agent_started", {"agent": "data", "description": "d"}),
    ("tool_executing", {"agent": "data", "tool": "usage_summary", "call_id": "call_1",
                        "args": {"from": "2026-01-01", "to": None, "group_by": "model"}}),
    ("tool_completed", {"agent": "data", "tool": "usage_summary", "call_id": "call_1", "ok": True,
                        "result": {"total_usd": 12.5}, "duration_ms": 3.0}),
    ("agent_completed", {"agent": "data", "summary": "s", "duration_ms": 1.0}),
    ("agent_started", {"agent": "report", "description": "d"}),
    ("partial_result", {"agent": "report", "delta": "## Spend\n\n"}),
    ("partial_result", {"agent": "report", "delta": "$12.50"}),
    ("agent_completed", {"agent": "report", "summary": "s", "duration_ms": 1.0}),
)
REPORT = {"spend": {"total_usd": 12.5}, "recommendations": [], "total_monthly_savings_usd": 0}
FINAL = ("agent_completed", {"agent": "supervisor", "summary": "done", "duration_ms": 9.0, "final": True,
                             "final_response": "## Spend\n\n$12.50", "report": REPORT})


def test_a_completed_run_maps_to_steps_tool_calls_text_state_and_run_finished():
    events = view_of(*STEPS, FINAL)
    check_sequence(events)
    types = [e.type for e in events]
    assert types[0] == EventType.RUN_STARTED and events[0].run_id == RUN and events[0].thread_id == THREAD
    assert types[-2:] == [EventType.STATE_SNAPSHOT, EventType.RUN_FINISHED]
    assert events[-2].snapshot["report"] == REPORT and events[-2].snapshot["run_id"] == RUN
    steps = [(e.type, e.step_name) for e in events if e.type in (EventType.STEP_STARTED, EventType.STEP_FINISHED)]
    assert steps == [(EventType.STEP_STARTED, "supervisor"), (EventType.STEP_STARTED, "data"),
                     (EventType.STEP_FINISHED, "data"), (EventType.STEP_STARTED, "report"),
                     (EventType.STEP_FINISHED, "report"), (EventType.STEP_FINISHED, "supervisor")]
    start, args, end, result = (next(e for e in events if e.type == t) for t in (
        EventType.TOOL_CALL_START, EventType.TOOL_CALL_ARGS, EventType.TOOL_CALL_END, EventType.TOOL_CALL_RESULT))
    assert start.tool_call_name == "usage_summary" and start.tool_call_id == f"{RUN}-call_1"
    assert orjson.loads(args.delta) == {"from": "2026-01-01", "to": None, "group_by": "model"}
    assert end.tool_call_id == result.tool_call_id == start.tool_call_id
    assert orjson.loads(result.content) == {"total_usd": 12.5}
    text = "".join(e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT)
    assert text == "## Spend\n\n$12.50"
    thought = next(e for e in events if e.type == EventType.REASONING_MESSAGE_CONTENT)
    assert thought.delta == "plan"


def test_timestamps_come_from_the_stored_events():
    events = view_of(*STEPS[:1])
    stored = frames(*STEPS[:1])[0]["ts"]
    assert events[1].timestamp is not None
    assert abs(events[1].timestamp / 1000 - datetime.fromisoformat(
        stored.replace("Z", "+00:00")).timestamp()) < 0.002


def test_a_failed_run_ends_with_run_error_and_no_run_finished():
    events = view_of(*STEPS[:4], ("agent_error", {"agent": "data", "code": "deadline_exceeded",
                                                  "message": "too slow", "final": True}))
    check_sequence(events)
    assert events[-1].type == EventType.RUN_ERROR
    assert (events[-1].code, events[-1].message) == ("deadline_exceeded", "too slow")
    assert EventType.RUN_FINISHED not in [e.type for e in events]


def test_a_cancelled_run_closes_what_is_open_then_finishes_as_cancelled():
    events = view_of(*STEPS[:8], ("run_cancelled", {"reason": "cancelled by user", "final": True}))
    check_sequence(events)  # would fail on an open step or text message
    assert events[-1].type == EventType.RUN_FINISHED and events[-1].outcome.type == "cancelled"
    closing = [(e.type, getattr(e, "step_name", None)) for e in events[-4:-1]]
    assert closing == [(EventType.TEXT_MESSAGE_END, None), (EventType.STEP_FINISHED, "report"),
                       (EventType.STEP_FINISHED, "supervisor")]


def test_a_rewritten_answer_ends_the_draft_and_streams_the_rewrite_as_its_own_message():
    events = view_of(*STEPS[:8], ("partial_result", {"agent": "report", "delta": "", "reset": True}),
                     ("partial_result", {"agent": "report", "delta": "fixed"}), *STEPS[9:], FINAL)
    check_sequence(events)
    starts = [e.message_id for e in events if e.type == EventType.TEXT_MESSAGE_START]
    assert starts == [f"{RUN}-answer", f"{RUN}-answer-2"]
    last = [e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT and e.message_id == starts[1]]
    assert last == ["fixed"]


def test_an_answer_that_was_not_streamed_is_sent_whole_before_the_run_finishes():
    events = view_of(("agent_started", {"agent": "supervisor", "description": "d"}), FINAL)
    check_sequence(events)
    assert [e.delta for e in events if e.type == EventType.TEXT_MESSAGE_CONTENT] == ["## Spend\n\n$12.50"]


def test_an_event_type_without_a_mapping_travels_as_a_custom_event():
    events = view_of(("agent_error", {"agent": "optimization", "code": "x", "message": "m", "final": False}))
    assert events[-1].type == EventType.CUSTOM
    assert events[-1].name == "agent_error" and events[-1].value["code"] == "x"


def test_nothing_follows_the_end_of_the_run():
    view = AguiRun(THREAD, RUN)
    finished = [view.feed(f) for f in frames(*STEPS[:1], FINAL, *STEPS[:1])]
    assert finished[-1] == []
