"""Ending a run: its one final event and its status change, written in one transaction.

Only an open run may change status, so whoever ends a run first (its executor, the watchdog,
a cancel, a restart) wins, and every later writer is refused with RunAlreadyFinished. Every
path that ends a run goes through `write_final`; `end_with_error` and `end_cancelled` are the
two ways to end a run from outside its executor.
"""

from __future__ import annotations

import asyncio
from typing import cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from spendpilot.bus.base import EventBus
from spendpilot.clock import utcnow
from spendpilot.ids import new_id
from spendpilot.logs import get_logger
from spendpilot.runs.emitter import RunAlreadyFinished, RunEmitter, RunJob
from spendpilot.runs.event_log import AlsoWrite, RunEventLog
from spendpilot.runs.status import OPEN, RunStatus
from spendpilot.store.models import Message, Run, Thread

log = get_logger(__name__)

# Why a run ended without an answer, as the user reads it in its final `agent_error`.
ERROR_MESSAGES = {
    "deadline_exceeded": "The run did not finish before its deadline; your message is saved, send it again.",
    "worker_lost": "The worker running this analysis stopped; your message is saved, send it again.",
    "worker_stopped": "The worker was shut down during this analysis; your message is saved, send it again.",
    "interrupted": "The server restarted during this run; your message is saved, send it again.",
    "internal_error": "The analysis failed unexpectedly; please try again.",
}


# Core statements on the tables: these run with every run's first and last event, and the ORM's
# bulk update and unit of work cost several times the statements themselves.
# Built once: building a statement costs more than running it.
_RUNS, _MESSAGES, _THREADS = (cast(Table, model.__table__) for model in (Run, Message, Thread))
# The columns set are the keys of the parameters; `open_run` names the run.
_UPDATE_OPEN_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("open_run"), _RUNS.c.status.in_(OPEN))
_INSERT_MESSAGE = insert(_MESSAGES)
_TOUCH_THREAD = update(_THREADS).where(_THREADS.c.id == bindparam("thread"))


def _guarded_update(session: Session, run_id: str, values: dict) -> None:
    result = session.execute(_UPDATE_OPEN_RUN, {"open_run": run_id, **values})
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise RunAlreadyFinished(run_id)


def set_status(run_id: str, status: RunStatus) -> AlsoWrite:
    """Written with the run's first event: the run is now running."""
    def write(session: Session) -> None:
        _guarded_update(session, run_id, {"status": status})
    return write


def answered(report: dict | None) -> dict:
    """What a completed run keeps of its report for the next question of its thread: period, scope, intent."""
    if not report:
        return {}
    period = report.get("period") or {}
    return {"period_from": period.get("from"), "period_to": period.get("to"), "scope": report.get("scope") or {},
            "intent": report.get("intent")}


def _finish(job: RunJob, status: RunStatus, last_seq: int, answer: dict | None) -> AlsoWrite:
    def write(session: Session) -> None:
        now = utcnow()
        kept = answered(answer.get("report")) if answer is not None else {}
        _guarded_update(session, job.run_id, {"status": status, "finished_at": now, "last_seq": last_seq,
                                                    **kept})
        if answer is not None:
            replaced = answer.get("regenerates")
            session.execute(_INSERT_MESSAGE, {
                "id": new_id("msg"), "thread_id": job.thread_id, "user_id": job.user_id, "role": "assistant",
                "content": answer["final_response"], "run_id": job.run_id, "report": answer.get("report"),
                "created_at": now, "regenerates": replaced})
            if replaced:
                # The answer it replaces stays in the history, marked as replaced by this one.
                session.execute(update(_MESSAGES).where(_MESSAGES.c.run_id == replaced,
                                                        _MESSAGES.c.role == "assistant")
                                .values(superseded_by=job.run_id))
        session.execute(_TOUCH_THREAD, {"thread": job.thread_id, "updated_at": now})
    return write


async def write_final(emitter: RunEmitter, type: str, data: dict, status: RunStatus, answer: dict | None) -> bool:
    """Store and send the run's final event; False when the run had already been ended by someone else."""
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


def error_event(agent: str, code: str) -> dict:
    return {"agent": agent, "code": code, "final": True, "message": ERROR_MESSAGES[code]}


async def _emitter_for(event_log: RunEventLog, bus: EventBus, run: Run) -> RunEmitter:
    return RunEmitter(RunJob.of(run), event_log, bus, await event_log.last_seq(run.id))


async def end_with_error(event_log: RunEventLog, bus: EventBus, run: Run, code: str) -> bool:
    """End a run from outside its executor with a final `agent_error`; False if it had already ended."""
    emitter = await _emitter_for(event_log, bus, run)
    return await write_final(emitter, "agent_error", error_event("supervisor", code), RunStatus.FAILED, None)


async def end_cancelled(event_log: RunEventLog, bus: EventBus, run: Run, reason: str = "cancelled by user") -> bool:
    """End a run nobody is executing with `run_cancelled`; False if it had already ended."""
    emitter = await _emitter_for(event_log, bus, run)
    return await write_final(emitter, "run_cancelled", {"reason": reason, "final": True}, RunStatus.CANCELLED, None)
