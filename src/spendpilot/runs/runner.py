"""Run one run: the agent pipeline under its deadline, ending in exactly one final event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol

from spendpilot.agents.context import AgentContext, RunCancelled
from spendpilot.agents.model import ProseModel
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.runs.ending import error_event, set_status, write_final
from spendpilot.runs.status import RunStatus

log = get_logger(__name__)

Pipeline = Callable[[AgentContext], Awaitable[dict]]

DEADLINE_MESSAGE = "The run did not finish before its deadline; partial work is in the events above."


class ThreadGate(Protocol):
    """What execute_run needs of a gate: an awaitable to enter, then a release.

    Narrower than AbstractAsyncContextManager, whose __aenter__ must be a coroutine: a gate that is
    already open may hand back a finished future.
    """

    def __aenter__(self) -> Awaitable[object]: ...

    def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> Awaitable[object]: ...


def slowed(pipeline: Pipeline, delay_s: float) -> Pipeline:
    """The pipeline with a pause after each event, as a slow model would make (demos, tests, benchmarks)."""
    if delay_s <= 0:
        return pipeline

    async def run(ctx: AgentContext) -> dict:
        emit = ctx.emit

        async def emit_slowly(type: str, data: dict) -> int:
            seq = await emit(type, data)
            await ctx.until_cancelled(asyncio.sleep(delay_s))
            return seq

        ctx.emit = emit_slowly
        return await pipeline(ctx)

    return run


async def execute_run(job: RunJob, emitter: RunEmitter, *, pipeline: Pipeline, cancel: asyncio.Event,
                      thread_gate: ThreadGate, analytics: AnalyticsStore,
                      model: ProseModel) -> RunStatus:
    """Returns the final status. Never raises for anything the run itself does wrong."""
    first = True

    async def emit(type: str, data: dict) -> int:
        nonlocal first
        also = set_status(job.run_id, RunStatus.RUNNING) if first else None
        first = False
        return await emitter.emit(type, data, also=also)

    ctx = AgentContext(run_id=job.run_id, org_id=job.org_id, content=job.content, emit=emit,
                       cancel=cancel, analytics=analytics, model=model)
    answer = None
    status: RunStatus
    try:
        async with asyncio.timeout(max(0.0, job.deadline_ts - time.time())):
            # A second message in the same thread waits here for the first run to finish.
            await ctx.until_cancelled(thread_gate.__aenter__())
            try:
                answer = await pipeline(ctx)
            finally:
                await thread_gate.__aexit__(None, None, None)
        status, type, data = RunStatus.COMPLETED, "agent_completed", {
            "agent": "supervisor", "summary": answer["summary"], "duration_ms": answer["duration_ms"],
            "final": True, "final_response": answer["final_response"], "report": answer["report"]}
    except RunCancelled as exc:
        status, type, data = RunStatus.CANCELLED, "run_cancelled", {"reason": exc.reason, "final": True}
    except TimeoutError:
        status, type = RunStatus.FAILED, "agent_error"
        data = {**error_event(ctx.current_agent, "deadline_exceeded"), "message": DEADLINE_MESSAGE}
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("run_failed", run_id=job.run_id, agent=ctx.current_agent, error=exc)
        status, type, data = RunStatus.FAILED, "agent_error", error_event(ctx.current_agent, "internal_error")
    await write_final(emitter, type, data, status, answer if status == RunStatus.COMPLETED else None)
    return status

