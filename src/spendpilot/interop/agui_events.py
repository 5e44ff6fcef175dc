"""A Spendpilot run's events as AG-UI events (ag-ui-protocol models), one run event at a time.

    agent_started              -> STEP_STARTED (step_name: the agent)
    agent_thinking             -> REASONING_START, REASONING_MESSAGE_START/CONTENT/END, REASONING_END
    tool_executing             -> TOOL_CALL_START, TOOL_CALL_ARGS (the arguments as JSON), TOOL_CALL_END
    tool_completed             -> TOOL_CALL_RESULT (the result as JSON)
    partial_result             -> TEXT_MESSAGE_START (first delta), TEXT_MESSAGE_CONTENT
    agent_completed            -> STEP_FINISHED
    agent_completed final      -> TEXT_MESSAGE_END, STEP_FINISHED, STATE_SNAPSHOT {report, ...}, RUN_FINISHED
    agent_error final          -> RUN_ERROR {code, message}
    run_cancelled              -> whatever is open closed, RUN_FINISHED with the outcome "cancelled"
    any other run event        -> CUSTOM {name: its type, value: its data}

AG-UI consumers refuse RUN_FINISHED while a step, text message or tool call is open, so the mapper
tracks what it opened and closes it, innermost first, before the run ends. Ids are derived from the
run's, so replaying the same run yields the same AG-UI stream.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from ag_ui.core import (
    BaseEvent,
    CustomEvent,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunStartedEvent,
    StateSnapshotEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)

PROTOCOL_VERSION = "1.0"


def _json(value: object) -> str:
    # Values come from a stored frame (decoded JSON), so they encode as they are.
    return orjson.dumps(value).decode()


def _millis(ts: str | None) -> int | None:
    if not ts:
        return None
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


class AguiRun:
    """The AG-UI view of one run: feed it the run's events in seq order, emit what it returns."""

    def __init__(self, thread_id: str, run_id: str):
        self.thread_id = thread_id
        self.run_id = run_id
        self.steps: list[str] = []  # open steps, outermost first
        self.answer_id: str | None = None  # the open text message
        self.answers = 0  # text messages opened so far (a rewrite of the answer opens another)
        self.finished = False

    def started(self) -> RunStartedEvent:
        return RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, protocol_version=PROTOCOL_VERSION)

    def feed(self, event: dict) -> list[BaseEvent]:
        """The AG-UI events for one stored run event (its JSON envelope, decoded)."""
        if self.finished:
            return []
        type, data, seq = event["type"], event.get("data") or {}, event.get("seq")
        out = self._map(type, data, seq)
        stamp = _millis(event.get("ts"))
        for mapped in out:
            mapped.timestamp = stamp
        return out

    def _map(self, type: str, data: dict, seq: int | None) -> list[BaseEvent]:
        agent = str(data.get("agent", ""))
        if type == "agent_started":
            self.steps.append(agent)
            return [StepStartedEvent(step_name=agent)]
        if type == "agent_thinking":
            return self._thought(f"{self.run_id}-thought-{seq}", str(data.get("thought", "")))
        if type == "tool_executing":
            call_id = self._call_id(data)
            return [ToolCallStartEvent(tool_call_id=call_id, tool_call_name=str(data.get("tool", ""))),
                    ToolCallArgsEvent(tool_call_id=call_id, delta=_json(data.get("args", {}))),
                    ToolCallEndEvent(tool_call_id=call_id)]
        if type == "tool_completed":
            call_id = self._call_id(data)
            return [ToolCallResultEvent(message_id=f"{call_id}-result", tool_call_id=call_id, role="tool",
                                        content=_json(data.get("result")))]
        if type == "partial_result":
            return self._answer_delta(str(data.get("delta", "")), bool(data.get("reset")))
        if type == "agent_completed" and data.get("final") is True:
            return self._completed(data)
        if type == "agent_completed":
            return self._step_finished(agent)
        if type == "agent_error" and data.get("final") is True:
            self.finished = True
            return [RunErrorEvent(message=str(data.get("message") or "the run failed"),
                                  code=str(data.get("code") or "error"))]
        if type == "run_cancelled":
            self.finished = True
            return [*self._close_all(), RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id,
                                                         outcome=RunFinishedCancelledOutcome(),
                                                         result={"reason": data.get("reason")})]
        return [CustomEvent(name=type, value=data)]

    def _call_id(self, data: dict) -> str:
        # A run numbers its calls call_1, call_2...; AG-UI ids must be unique across the conversation.
        return f"{self.run_id}-{data.get('call_id')}"

    def _thought(self, message_id: str, thought: str) -> list[BaseEvent]:
        return [ReasoningStartEvent(message_id=message_id),
                ReasoningMessageStartEvent(message_id=message_id, role="reasoning"),
                ReasoningMessageContentEvent(message_id=message_id, delta=thought),
                ReasoningMessageEndEvent(message_id=message_id),
                ReasoningEndEvent(message_id=message_id)]

    def _answer_delta(self, delta: str, reset: bool) -> list[BaseEvent]:
        if reset:
            # The writer starts over (its draft named a figure no tool reported): the draft message ends
            # here and the rewrite arrives as a message of its own.
            return self._end_answer()
        if not delta:
            return []
        out: list[BaseEvent] = []
        if self.answer_id is None:
            self.answers += 1
            self.answer_id = f"{self.run_id}-answer" + (f"-{self.answers}" if self.answers > 1 else "")
            out.append(TextMessageStartEvent(message_id=self.answer_id, role="assistant"))
        out.append(TextMessageContentEvent(message_id=self.answer_id, delta=delta))
        return out

    def _end_answer(self) -> list[BaseEvent]:
        if self.answer_id is None:
            return []
        ended = TextMessageEndEvent(message_id=self.answer_id)
        self.answer_id = None
        return [ended]

    def _step_finished(self, agent: str) -> list[BaseEvent]:
        if agent not in self.steps:
            return []
        # Steps nest: anything opened inside this one ends with it.
        out: list[BaseEvent] = []
        while self.steps:
            name = self.steps.pop()
            out.append(StepFinishedEvent(step_name=name))
            if name == agent:
                break
        return out

    def _close_all(self) -> list[BaseEvent]:
        out = self._end_answer()
        while self.steps:
            out.append(StepFinishedEvent(step_name=self.steps.pop()))
        return out

    def _completed(self, data: dict) -> list[BaseEvent]:
        out: list[BaseEvent] = []
        final_response = str(data.get("final_response") or "")
        if self.answers == 0 and final_response:
            # An answer that was not streamed (nothing to stream, or streamed before this view began).
            out.extend(self._answer_delta(final_response, False))
        out.extend(self._close_all())
        self.finished = True
        snapshot = {"thread_id": self.thread_id, "run_id": self.run_id, "status": "completed",
                    "summary": data.get("summary"), "report": data.get("report")}
        out.append(StateSnapshotEvent(snapshot=snapshot))
        out.append(RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id,
                                    result={"summary": data.get("summary")}))
        return out
