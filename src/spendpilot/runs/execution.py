"""Execute one run: the agent pipeline under a deadline, ending in exactly one final event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import update

from spendpilot.agents.context import AgentContext, RunCancelled
from spendpilot.clock import utcnow
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunEmitter, RunJob
from spendpilot.store.models import Message, Run, Thread

log = get_logger(__name__)

Pipeline = Callable[[AgentContext], Awaitable[dict]]


def _set_status(run_id: str, status: str, finished: bool = False):
    async def write(session) -> None:
        values: dict = {"status": status}
        if finished:
            values["finished_at"] = utcnow()
        await session.execute(update(Run).where(Run.id == run_id).values(**values))
    return write


def _finish(job: RunJob, status: str, last_seq: int, answer: dict | None):
    async def write(session) -> None:
        now = utcnow()
        await session.execute(update(Run).where(Run.id == job.run_id)
                              .values(status=status, finished_at=now, last_seq=last_seq))
        if answer is not None:
            session.add(Message(id=new_id("msg"), thread_id=job.thread_id, user_id=job.user_id,
                                role="assistant", content=answer["final_response"], run_id=job.run_id,
                                report=answer.get("report"), created_at=now))
        await session.execute(update(Thread).where(Thread.id == job.thread_id).values(updated_at=now))
    return write


async def execute_run(job: RunJob, emitter: RunEmitter, *, pipeline: Pipeline, cancel: asyncio.Event,
                      thread_gate: AbstractAsyncContextManager, analytics, model) -> str:
    """Returns the final status. Never raises for anything the run itself does wrong."""
    first = True

    async def emit(type: str, data: dict) -> int:
        nonlocal first
        also = _set_status(job.run_id, "running") if first else None
        first = False
        return await emitter.emit(type, data, also=also)

    ctx = AgentContext(run_id=job.run_id, org_id=job.org_id, content=job.content, emit=emit,
                       cancel=cancel, analytics=analytics, model=model)
    answer = None
    try:
        async with asyncio.timeout(max(0.0, job.deadline_ts - time.time())):
            # A second message in the same thread waits here for the first run to finish.
            await ctx.until_cancelled(thread_gate.__aenter__())
            try:
                answer = await pipeline(ctx)
            finally:
                await thread_gate.__aexit__(None, None, None)
        status, type, data = "completed", "agent_completed", {
            "agent": "supervisor", "summary": answer["summary"], "duration_ms": answer["duration_ms"],
            "final": True, "final_response": answer["final_response"], "report": answer["report"]}
    except RunCancelled as exc:
        status, type, data = "cancelled", "run_cancelled", {"reason": exc.reason, "final": True}
    except TimeoutError:
        status, type, data = "failed", "agent_error", {
            "agent": ctx.current_agent, "code": "deadline_exceeded", "final": True,
            "message": "The run did not finish before its deadline; partial work is in the events above."}
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("run_failed", run_id=job.run_id, agent=ctx.current_agent, error=exc)
        status, type, data = "failed", "agent_error", {
            "agent": ctx.current_agent, "code": "internal_error", "final": True,
            "message": "The analysis failed unexpectedly; please try again."}
    await emit_final(emitter, type, data, status, answer if status == "completed" else None)
    return status


async def emit_final(emitter: RunEmitter, type: str, data: dict, status: str, answer: dict | None) -> None:
    # The final event is what ends every wait; retry through a brief database outage.
    for attempt in range(5):
        try:
            await emitter.emit(type, data, also=_finish(emitter.job, status, emitter.seq + 1, answer))
            return
        except Exception as exc:
            log.error("final_event_write_failed", run_id=emitter.job.run_id, attempt=attempt, error=exc)
            emitter.finished = False
            emitter.seq -= 1
            await asyncio.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"could not record the final event of {emitter.job.run_id}")
