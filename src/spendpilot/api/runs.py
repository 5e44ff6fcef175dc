"""Runs over REST: start, read, cancel, and the event log as JSON or a live SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from spendpilot.api.deps import ChatUser, ServicesDep
from spendpilot.runs.replay import follow_run
from spendpilot.runs.service import MAX_CONTENT_CHARS, run_view
from spendpilot.runs.status import OPEN
from spendpilot.services import Services

router = APIRouter(tags=["runs"])


class RunCreate(BaseModel):
    content: str = Field(min_length=1, max_length=MAX_CONTENT_CHARS)


@router.post("/api/threads/{thread_id}/runs", status_code=202)
async def start_run(thread_id: str, body: RunCreate, principal: ChatUser, services: ServicesDep):
    accepted = await services.runs.accept(principal, body.content, thread_id)
    await services.runs.start(accepted)
    return accepted.view()


@router.post("/api/threads/{thread_id}/regenerate", status_code=202)
async def regenerate(thread_id: str, principal: ChatUser, services: ServicesDep):
    """Answer the thread's last question again (SPEC §13); the answer replaced stays in the history."""
    accepted = await services.runs.regenerate(principal, thread_id)
    await services.runs.start(accepted)
    return accepted.view()


@router.post("/api/threads/{thread_id}/messages/{message_id}/edit", status_code=202)
async def edit_message(thread_id: str, message_id: str, body: RunCreate, principal: ChatUser,
                       services: ServicesDep):
    """Send the thread's last message again with new words: a new message (`edits`) and a new run."""
    accepted = await services.runs.edit(principal, thread_id, message_id, body.content)
    await services.runs.start(accepted)
    return accepted.view()


@router.get("/api/runs/{run_id}")
async def get_run(run_id: str, principal: ChatUser, services: ServicesDep):
    return run_view(await services.runs.owned_run(principal, run_id))


@router.post("/api/runs/{run_id}/cancel", status_code=202)
async def cancel_run(run_id: str, principal: ChatUser, services: ServicesDep):
    run = await services.runs.cancel(principal, run_id)
    return {"run_id": run.id, "status": run.status, "cancel_requested": run.status in OPEN}


@router.get("/api/runs/{run_id}/events")
async def run_events(run_id: str, request: Request, principal: ChatUser, services: ServicesDep,
                     after: int = Query(default=0, ge=0),
                     last_event_id: str | None = Header(default=None)):
    if "text/event-stream" in request.headers.get("accept", ""):
        if last_event_id and last_event_id.isdigit():
            after = max(after, int(last_event_id))
        await services.runs.owned_run(principal, run_id)
        return StreamingResponse(_sse(services, principal.user_id, run_id, after, request),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    events = await services.runs.events_after(principal, run_id, after)
    body = "[" + ",".join(frame for _, frame in events) + "]"
    return Response(body, media_type="application/json")


async def _sse(services: Services, user_id: str, run_id: str, after: int, request: Request) -> AsyncIterator[str]:
    """Replay from the log, then follow live events; ends after the final event."""
    async for event in follow_run(services.event_log, services.bus, user_id, run_id, after,
                                  idle_s=services.settings.heartbeat_s, gone=request.is_disconnected):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        seq, frame = event
        yield _sse_frame(seq, frame)


def _sse_frame(seq: int, frame: str) -> str:
    return f"id: {seq}\nevent: run_event\ndata: {frame}\n\n"
