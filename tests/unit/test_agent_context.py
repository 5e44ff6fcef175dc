"""Cancel reaches inside a long tool, and the tool's events pair up by call_id."""

from __future__ import annotations

import asyncio

import pytest

from spendpilot.agents.context import AgentContext, RunCancelled


def make_context(events: list) -> tuple[AgentContext, asyncio.Event]:
    cancel = asyncio.Event()

    async def emit(type: str, data: dict) -> int:
        events.append((type, data))
        return len(events)

    ctx = AgentContext(run_id="run_t", org_id="org_t", content="q", emit=emit, cancel=cancel,
                       analytics=object(), model=None)
    return ctx, cancel


async def test_cancel_interrupts_a_tool_that_would_never_finish():
    events: list = []
    ctx, cancel = make_context(events)
    never = asyncio.Event()

    async def stuck_tool():
        await never.wait()

    asyncio.get_running_loop().call_later(0.05, cancel.set)
    with pytest.raises(RunCancelled):
        async with ctx.agent("data", "measures"):
            await ctx.tool("slow_query", {"q": 1}, stuck_tool)
    assert [t for t, _ in events] == ["agent_started", "tool_executing"]


async def test_cancel_between_steps_stops_before_the_next_event():
    events: list = []
    ctx, cancel = make_context(events)
    with pytest.raises(RunCancelled):
        async with ctx.agent("triage", "decides"):
            await ctx.think("first")
            cancel.set()
            await ctx.think("second")
    # Nor is agent_completed emitted on the way out.
    assert [t for t, _ in events] == ["agent_started", "agent_thinking"]


async def test_a_failing_tool_reports_ok_false_with_the_same_call_id():
    events: list = []
    ctx, _ = make_context(events)

    async def broken():
        raise ValueError("bad column")

    with pytest.raises(ValueError):
        await ctx.tool("broken", {}, broken)
    (_, started), (_, done) = events
    assert started["call_id"] == done["call_id"] and done["ok"] is False
    assert done["result"]["message"] == "bad column"
