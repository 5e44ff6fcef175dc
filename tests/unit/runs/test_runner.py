"""execute_run: every way a run can end gives exactly one final event, last, with the matching status."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from spendpilot.agents.context import AgentContext
from spendpilot.agents.offline import OfflineModel
from spendpilot.runs.emitter import RunEmitter
from spendpilot.runs.ending import ERROR_MESSAGES
from spendpilot.runs.events import is_final
from spendpilot.runs.replay import RunCursor
from spendpilot.runs.runner import DEADLINE_MESSAGE, execute_run, slowed
from spendpilot.runs.status import RunStatus

ANSWER = {"summary": "1 recommendation", "duration_ms": 5.0, "final_response": "## Your AI spend\nFine.",
          "report": {"total_monthly_savings_usd": 12.5, "recommendations": []}}


async def two_agents(ctx: AgentContext) -> dict:
    """A small pipeline in the shape of the real one: supervisor, an agent, a thought, a tool."""
    await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
    async with ctx.agent("data", "measures") as scope:
        await ctx.think("measuring spend")

        async def spend():
            return {"total_usd": 12.5}

        await ctx.tool("spend_summary", {"from": "2026-01-01"}, spend)
        scope.summary = "measured"
    return ANSWER


class Harness:
    """Runs execute_run on a real emitter, event log and bus, and reads back what it stored."""

    def __init__(self, rows, event_log, bus):
        self.rows, self.event_log, self.bus = rows, event_log, bus
        self.cancel = asyncio.Event()
        self.gate = asyncio.Lock()
        self.job = None

    async def prepare(self, deadline_s: float = 30.0) -> None:
        self.job = await self.rows.job(deadline_s=deadline_s)
        self.emitter = RunEmitter(self.job, self.event_log, self.bus)

    def cancel_soon(self) -> None:
        """Cancel from outside the run, as the bus does: on the loop, after the current step."""
        asyncio.get_running_loop().call_soon(self.cancel.set)

    async def run(self, pipeline, deadline_s: float = 30.0) -> RunStatus:
        if self.job is None:
            await self.prepare(deadline_s)
        # Bounded, so that a run that never ends fails its test instead of hanging it.
        return await asyncio.wait_for(
            execute_run(self.job, self.emitter, pipeline=pipeline, cancel=self.cancel, thread_gate=self.gate,
                        analytics=object(), model=OfflineModel()), 10)

    async def frames(self) -> list[dict]:
        return [orjson.loads(frame) for _, frame in await self.event_log.after(self.job.run_id, 0)]

    async def types(self) -> list[str]:
        return [f["type"] for f in await self.frames()]

    async def final(self) -> dict:
        frames = await self.frames()
        finals = [f for f in frames if is_final(f["type"], f["data"])]
        assert len(finals) == 1 and finals[0] is frames[-1], [f["type"] for f in frames]
        assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
        return finals[0]

    async def stored_status(self) -> str:
        return (await self.rows.get_run(self.job.run_id)).status

    async def answers(self) -> list:
        return [m for m in await self.rows.messages(self.job.thread_id) if m.role == "assistant"]


@pytest.fixture
def harness(rows, event_log, bus) -> Harness:
    return Harness(rows, event_log, bus)


async def test_a_completed_run_ends_with_the_root_agent_completed_and_its_report(harness):
    assert await harness.run(two_agents) == RunStatus.COMPLETED
    assert await harness.types() == ["agent_started", "agent_started", "agent_thinking", "tool_executing",
                                     "tool_completed", "agent_completed", "agent_completed"]
    final = await harness.final()
    assert final["data"] == {"agent": "supervisor", "summary": ANSWER["summary"], "duration_ms": 5.0, "final": True,
                             "final_response": ANSWER["final_response"], "report": ANSWER["report"]}
    assert await harness.stored_status() == RunStatus.COMPLETED
    [answer] = await harness.answers()
    assert (answer.content, answer.report) == (ANSWER["final_response"], ANSWER["report"])
    assert not harness.gate.locked()


async def test_the_first_event_marks_the_run_running(harness, rows):
    seen: list[str] = []

    async def pipeline(ctx):
        seen.append((await rows.get_run(ctx.run_id)).status)
        await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        seen.append((await rows.get_run(ctx.run_id)).status)
        return ANSWER

    await harness.run(pipeline)
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING]


async def test_a_cancelled_run_ends_with_run_cancelled_and_no_answer(harness, bus):
    async def pipeline(ctx):
        # The user cancels as soon as the first event reaches them.
        bus.subscribe_user(harness.job.user_id, lambda run_id, seq, frame: harness.cancel_soon())
        await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        await ctx.until_cancelled(asyncio.Event().wait())
        return ANSWER

    assert await harness.run(pipeline) == RunStatus.CANCELLED
    final = await harness.final()
    assert await harness.types() == ["agent_started", "run_cancelled"]
    assert final["data"] == {"reason": "cancelled by user", "final": True}
    assert await harness.stored_status() == RunStatus.CANCELLED
    assert await harness.answers() == []
    assert not harness.gate.locked()


async def test_a_run_past_its_deadline_ends_with_deadline_exceeded_from_the_agent_at_work(harness):
    async def stuck(ctx):
        await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        async with ctx.agent("optimization", "looks for waste"):
            await asyncio.Event().wait()  # ignores cancel: only the deadline can stop it
        return ANSWER

    assert await harness.run(stuck, deadline_s=0.2) == RunStatus.FAILED
    final = await harness.final()
    assert await harness.types() == ["agent_started", "agent_started", "agent_error"]
    assert final["data"] == {"agent": "optimization", "code": "deadline_exceeded", "final": True,
                             "message": DEADLINE_MESSAGE}
    assert await harness.stored_status() == RunStatus.FAILED
    assert await harness.answers() == []
    assert not harness.gate.locked()


async def test_a_run_queued_behind_its_thread_still_ends_at_its_deadline(harness):
    called = []

    async def pipeline(ctx):
        called.append(True)
        return ANSWER

    async with harness.gate:  # another run of the thread holds it throughout
        assert await harness.run(pipeline, deadline_s=0.1) == RunStatus.FAILED
    assert called == []
    final = await harness.final()
    assert (final["seq"], final["data"]["code"], final["data"]["agent"]) == (1, "deadline_exceeded", "supervisor")
    assert await harness.stored_status() == RunStatus.FAILED


async def test_a_run_cancelled_while_queued_behind_its_thread_never_starts(harness):
    called = []

    async def pipeline(ctx):
        called.append(True)
        return ANSWER

    async with harness.gate:
        run = asyncio.create_task(harness.run(pipeline))
        await asyncio.sleep(0.05)  # the run is now waiting for the gate
        harness.cancel.set()
        assert await run == RunStatus.CANCELLED
    assert called == []
    assert await harness.types() == ["run_cancelled"]
    assert await harness.stored_status() == RunStatus.CANCELLED
    # The cancelled run does not hold the gate: the next run of the thread can start.
    assert not harness.gate.locked()


@pytest.mark.parametrize("failure", [ValueError("bad column"), KeyError("summary")])
async def test_a_failing_pipeline_ends_with_internal_error_and_frees_its_thread(harness, failure):
    async def broken(ctx):
        await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        async with ctx.agent("triage", "decides"):
            raise failure
        return ANSWER

    assert await harness.run(broken) == RunStatus.FAILED
    final = await harness.final()
    assert await harness.types() == ["agent_started", "agent_started", "agent_error"]
    assert final["data"] == {"agent": "triage", "code": "internal_error", "final": True,
                             "message": ERROR_MESSAGES["internal_error"]}
    assert await harness.stored_status() == RunStatus.FAILED
    assert not harness.gate.locked()


async def test_an_answer_without_its_fields_is_an_internal_error_not_a_hang(harness):
    async def incomplete(ctx):
        await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        return {"final_response": "no summary"}

    assert await harness.run(incomplete) == RunStatus.FAILED
    assert (await harness.final())["data"]["code"] == "internal_error"
    assert await harness.answers() == []


async def test_a_pipeline_that_emits_a_final_event_itself_cannot_add_a_second(harness):
    async def ends_itself(ctx):
        await ctx.emit("run_cancelled", {"reason": "by itself", "final": True})
        return ANSWER

    await harness.run(ends_itself)
    await harness.final()  # exactly one final event, and it is the last


async def test_slowed_pauses_after_each_event_and_a_cancel_cuts_the_pause_short(harness, bus):
    async def three_events(ctx):
        # No cancel checkpoints of its own: only slowed's pause can notice the cancel.
        for i in range(3):
            await ctx.emit("agent_thinking", {"agent": "supervisor", "thought": str(i)})
        return ANSWER

    async def pipeline(ctx):
        bus.subscribe_user(harness.job.user_id, lambda run_id, seq, frame: harness.cancel_soon())
        return await slowed(three_events, 60.0)(ctx)

    assert await harness.run(pipeline) == RunStatus.CANCELLED
    # The cancel, set as the first event went out, was seen during the pause that followed it.
    assert await harness.types() == ["agent_thinking", "run_cancelled"]
    assert await harness.stored_status() == RunStatus.CANCELLED


async def test_without_slowing_the_same_cancel_is_not_seen_until_the_end(harness, bus):
    """The control case for the test above: the pause is what stopped the run after one event."""
    async def three_events(ctx):
        for i in range(3):
            await ctx.emit("agent_thinking", {"agent": "supervisor", "thought": str(i)})
        return ANSWER

    async def pipeline(ctx):
        bus.subscribe_user(harness.job.user_id, lambda run_id, seq, frame: harness.cancel_soon())
        return await slowed(three_events, 0)(ctx)

    assert await harness.run(pipeline) == RunStatus.COMPLETED
    assert await harness.types() == ["agent_thinking"] * 3 + ["agent_completed"]


async def test_slowed_keeps_the_events_and_their_order(harness):
    assert slowed(two_agents, 0) is two_agents
    assert await harness.run(slowed(two_agents, 0.001)) == RunStatus.COMPLETED
    assert await harness.types() == ["agent_started", "agent_started", "agent_thinking", "tool_executing",
                                     "tool_completed", "agent_completed", "agent_completed"]
    await harness.final()


async def test_a_neighbours_failed_write_costs_the_run_nothing_and_every_event_arrives_live(harness, event_log, bus):
    """Another run's event fails in the same group commit: this run's event is stored on its own, the run
    completes, and a live reader gets every stored event, the final one included."""
    live: list[int] = []

    async def pipeline(ctx):
        cursor = RunCursor(event_log, ctx.run_id)

        def deliver(run_id, seq, frame):
            asyncio.ensure_future(cursor.receive(seq, frame)).add_done_callback(
                lambda done: live.extend(s for s, _ in done.result()))

        bus.subscribe_user(harness.job.user_id, deliver)

        def broken(_session):
            raise RuntimeError("write failed")

        # Queued just before the run's first event, so both go to the log in one transaction.
        neighbour = asyncio.ensure_future(event_log.append("run_neighbour", 1, "agent_thinking", "x", also=broken))
        try:
            await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
        finally:
            await asyncio.gather(neighbour, return_exceptions=True)
        return ANSWER

    assert await harness.run(pipeline) == RunStatus.COMPLETED
    await asyncio.sleep(0.05)  # let the consumer's last gap fill finish
    stored = [f["seq"] for f in await harness.frames()]
    # What the log holds reached the live consumer, final event included, and the log has no gap.
    assert live == stored
    await harness.final()
