"""An LLM made of recorded turns: pydantic-ai's FunctionModel behind Spendpilot's LLMModel, never the network.

Each scripted turn is what a tool-calling provider answers at that point of the conversation: a triage
answer (the `final_result` output tool), a catalogue tool call, or streamed prose. A turn is a function of
the messages so far, so it can read the tool results it was given, as a real model does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from spendpilot.agents.llm import LLMModel
from spendpilot.agents.providers import PROVIDERS, LLMChoice

StreamTurn = Callable[[list[ModelMessage], AgentInfo], AsyncIterator[Any]]


class _NoClient:
    """The SDK client LLMModel pings and closes; a recorded model has none."""

    class models:  # noqa: N801 - the SDK's attribute name
        @staticmethod
        async def list() -> list:
            return []

    async def close(self) -> None:
        return None


class FinishedFunctionModel(FunctionModel):
    """FunctionModel streams with no finish reason; a provider's stream that ends normally says "stop"."""

    @asynccontextmanager
    async def request_stream(self, messages, model_settings, model_request_parameters, run_context=None):
        async with super().request_stream(messages, model_settings, model_request_parameters, run_context) as stream:
            stream.finish_reason = "stop"
            stream.provider_details = {"finish_reason": "stop"}
            yield stream


@dataclass
class Script:
    """The recorded turns, in order: `triage` answers the triage request, `report` the report's turns."""

    triage: dict
    report: list[StreamTurn]
    seen: list[list[ModelMessage]] = field(default_factory=list)
    offered: list[list[str]] = field(default_factory=list)

    def triage_turn(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, self.triage)])

    def report_turn(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        self.seen.append(list(messages))
        self.offered.append([tool.name for tool in info.function_tools])
        if not self.report:
            raise AssertionError("the model was asked for more turns than were recorded")
        return self.report.pop(0)(messages, info)


def recorded_llm(settings, script: Script) -> LLMModel:
    choice = LLMChoice(PROVIDERS["openai"], "gpt-recorded", "http://127.0.0.1:9/v1", "sk-recorded")
    model = FinishedFunctionModel(script.triage_turn, stream_function=script.report_turn, model_name="gpt-recorded")
    return LLMModel(choice, settings, built=(model, _NoClient()))


def tool_call(name: str, arguments_from: Callable[[dict], dict] | None = None, **arguments: Any) -> StreamTurn:
    """A turn that calls one tool; `arguments_from(report)` derives arguments from the report it was given."""
    async def turn(messages, info):
        given = {**arguments, **(arguments_from(report_given(messages)) if arguments_from else {})}
        yield {0: DeltaToolCall(name=name, json_args=json.dumps(given), tool_call_id=f"call_{name}")}
    return turn


def report_given(messages: list[ModelMessage]) -> dict:
    """The report JSON the writer was prompted with."""
    for message in messages:
        for part in getattr(message, "parts", []):
            if isinstance(part, UserPromptPart) and "Report JSON:" in str(part.content):
                body = str(part.content).split("```json\n", 1)[1].rsplit("\n```", 1)[0]
                return json.loads(body)
    raise AssertionError("the writer was not given the report")


def prose(write: Callable[[list[Any]], str]) -> StreamTurn:
    """Streamed text written from the tool results returned so far (each as the model received it)."""
    async def turn(messages, info):
        returned = [part.content for message in messages for part in getattr(message, "parts", [])
                    if isinstance(part, ToolReturnPart)]
        text = write(returned)
        for start in range(0, len(text), 40):
            yield text[start:start + 40]
    return turn


def tool_answers(messages: list[ModelMessage]) -> list[str]:
    """What the model was told back for each tool call, as text (a result, or what to fix and try again)."""
    return [str(part.content) for message in messages for part in getattr(message, "parts", [])
            if isinstance(part, (ToolReturnPart, RetryPromptPart))]
