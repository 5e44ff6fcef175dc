"""Execute one run: the agent pipeline under a deadline, ending in exactly one final event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from spendpilot.agents.context import AgentContext, RunCancelled
from spendpilot.clock import utcnow
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunAlreadyFinished, RunEmitter, RunJob
from spendpilot.store.models import Message, Run, Thread

log = get_logger(__name__)

Pipeline = Callable[[AgentContext], Awaitable[dict]]
# Only an unfinished run may change status: whoever ends a run first (its worker, the watchdog,
# a cancel) wins, in the same transaction as the final event, and every later writer is refused.
UNFINISHED = ("queued", "running")


async def _guarded_update(session, run_id: str, values: dict) -> None:
    result = await session.execute(update(Run).where(Run.id == run_id, Run.status.in_(UNFINISHED))
                                   .values(**values).execution_options(synchronize_session=False))
    if result.rowcount == 0:
        raise RunAlreadyFinished(run_id)


def _set_status(run_id: str, status: str, finished: bool = False):
    async def write(session) -> None:
        values: dict = {"status": status}
        if finished:
            values["finished_at"] = utcnow()
        await _guarded_update(session, run_id, values)
    return write


def _finish(job: RunJob, status: str, last_seq: int, answer: dict | None):
    async def write(session) -> None:
        now = utcnow()
        await _guarded_update(session, job.run_id, {"status": status, "finished_at": now, "last_seq": last_seq})
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


async def emit_final(emitter: RunEmitter, type: str, data: dict, status: str, answer: dict | None) -> bool:
    """False when the run had already been ended by someone else (then nothing is written)."""
    # The final event is what ends every wait; retry through a brief database outage.
    for attempt in range(5):
        try:
            await emitter.emit(type, data, also=_finish(emitter.job, status, emitter.seq + 1, answer))
            return True
        except RunAlreadyFinished:
            emitter.finished = True
            return False
        except Exception as exc:
            if not isinstance(exc, IntegrityError):
                log.error("final_event_write_failed", run_id=emitter.job.run_id, attempt=attempt, error=exc)
            emitter.finished = False
            emitter.seq -= 1
            try:
                # Another writer may hold the next seq (a run ended elsewhere); start after it.
                emitter.seq = await emitter.log.last_seq(emitter.job.run_id)
            except Exception:
                pass
            await asyncio.sleep(0 if isinstance(exc, IntegrityError) else 0.2 * (attempt + 1))
    raise RuntimeError(f"could not record the final event of {emitter.job.run_id}")
