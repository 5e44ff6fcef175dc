"""An AG-UI client for tests: POST a RunAgentInput, read the SSE stream, validate every event with ag-ui-protocol.

`check_sequence` holds a stream to the rules AG-UI clients enforce (the reference client's verifier):
RUN_STARTED first; nothing after RUN_FINISHED or RUN_ERROR; content, args and ends only for the message,
tool call, reasoning message or step that is open; RUN_FINISHED only once every one of them is closed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from ag_ui.core import BaseEvent, Event, EventType, RunAgentInput, UserMessage
from pydantic import TypeAdapter

EVENT = TypeAdapter(Event)


@dataclass
class AguiStream:
    status: int
    events: list[BaseEvent]
    ids: list[str | None]  # the SSE id of each event (None where the server sent none)
    content_type: str
    error: dict | None = None  # the JSON error of a refused request

    def types(self) -> list[str]:
        return [e.type.value for e in self.events]

    def of(self, type: EventType) -> list:
        return [e for e in self.events if e.type == type]


def run_input(question: str = "Analyze my AI costs", thread_id: str | None = None, run_id: str | None = None,
              messages: list | None = None) -> dict:
    """A RunAgentInput as an AG-UI client sends it (camelCase JSON)."""
    body = RunAgentInput(thread_id=thread_id or str(uuid.uuid4()), run_id=run_id or str(uuid.uuid4()),
                         messages=messages if messages is not None else
                         [UserMessage(id=str(uuid.uuid4()), content=question)],
                         state={}, tools=[], context=[], forwarded_props={})
    return body.model_dump(mode="json", by_alias=True)


async def post_run(url: str, token: str | None, body: dict, headers: dict | None = None,
                   timeout: float = 90.0, on_event=None) -> AguiStream:
    """POST /ag-ui and read the stream to its end; `on_event(event)` is awaited for each event as it arrives."""
    sent = {"Accept": "text/event-stream", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    events: list[BaseEvent] = []
    ids: list[str | None] = []
    async with httpx.AsyncClient(timeout=timeout) as http, http.stream("POST", f"{url}/ag-ui", json=body,
                                                                       headers=sent) as response:
        if response.status_code != 200:
            await response.aread()
            return AguiStream(response.status_code, [], [], response.headers.get("content-type", ""),
                              response.json())
        data: list[str] = []
        event_id: str | None = None
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue  # an SSE comment (keep-alive)
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                event = EVENT.validate_json("\n".join(data))
                events.append(event)
                ids.append(event_id)
                data, event_id = [], None
                if on_event is not None:
                    await on_event(event)
        return AguiStream(200, events, ids, response.headers.get("content-type", ""))


def check_sequence(events: list[BaseEvent]) -> None:
    """Raise AssertionError where the stream breaks a rule an AG-UI client enforces."""
    assert events and events[0].type == EventType.RUN_STARTED, "the first event must be RUN_STARTED"
    steps: list[str] = []
    messages: set[str] = set()
    calls: set[str] = set()
    ended_calls: set[str] = set()
    reasoning: set[str] = set()
    reasoning_messages: set[str] = set()
    finished = False
    for i, event in enumerate(events):
        where = f"event {i} ({event.type.value})"
        assert not finished, f"{where} after the run ended"
        kind = event.type
        if kind == EventType.RUN_STARTED:
            assert i == 0, f"{where}: a second RUN_STARTED"
        elif kind == EventType.STEP_STARTED:
            assert event.step_name not in steps, f"{where}: step {event.step_name} already open"
            steps.append(event.step_name)
        elif kind == EventType.STEP_FINISHED:
            assert event.step_name in steps, f"{where}: step {event.step_name} was not started"
            steps.remove(event.step_name)
        elif kind == EventType.TEXT_MESSAGE_START:
            assert event.message_id not in messages, f"{where}: message already open"
            messages.add(event.message_id)
        elif kind in (EventType.TEXT_MESSAGE_CONTENT, EventType.TEXT_MESSAGE_END):
            assert event.message_id in messages, f"{where}: message {event.message_id} is not open"
            if kind == EventType.TEXT_MESSAGE_END:
                messages.remove(event.message_id)
        elif kind == EventType.TOOL_CALL_START:
            assert event.tool_call_id not in calls | ended_calls, f"{where}: tool call id reused"
            calls.add(event.tool_call_id)
        elif kind in (EventType.TOOL_CALL_ARGS, EventType.TOOL_CALL_END):
            assert event.tool_call_id in calls, f"{where}: tool call {event.tool_call_id} is not open"
            if kind == EventType.TOOL_CALL_END:
                calls.remove(event.tool_call_id)
                ended_calls.add(event.tool_call_id)
        elif kind == EventType.TOOL_CALL_RESULT:
            assert event.tool_call_id in ended_calls, f"{where}: result for a call that has not ended"
        elif kind == EventType.REASONING_START:
            reasoning.add(event.message_id)
        elif kind == EventType.REASONING_MESSAGE_START:
            assert event.message_id in reasoning, f"{where}: reasoning message outside a reasoning span"
            reasoning_messages.add(event.message_id)
        elif kind in (EventType.REASONING_MESSAGE_CONTENT, EventType.REASONING_MESSAGE_END):
            assert event.message_id in reasoning_messages, f"{where}: reasoning message is not open"
            if kind == EventType.REASONING_MESSAGE_END:
                reasoning_messages.remove(event.message_id)
        elif kind == EventType.REASONING_END:
            assert event.message_id in reasoning and event.message_id not in reasoning_messages, where
            reasoning.remove(event.message_id)
        elif kind == EventType.RUN_FINISHED:
            assert not steps, f"{where} while steps are open: {steps}"
            assert not messages, f"{where} while text messages are open: {messages}"
            assert not calls, f"{where} while tool calls are open: {calls}"
            assert not reasoning, f"{where} while reasoning is open: {reasoning}"
            finished = True
        elif kind == EventType.RUN_ERROR:
            finished = True
    assert finished, "the stream ended without RUN_FINISHED or RUN_ERROR"
