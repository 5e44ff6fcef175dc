"""POST /ag-ui: an AG-UI `RunAgentInput` in, the run's AG-UI events out over SSE.

The run is an ordinary Spendpilot run, accepted and executed as a chat message is: its user message
and answer are stored in the thread, its events in the run's log, and it can be followed over the
socket, read at /api/runs/{id}/events and cancelled at /api/runs/{id}/cancel. AG-UI clients name their
own threads and runs; Spendpilot keeps those ids, so the conversation an app shows is the thread
Spendpilot stores. Posting a run id that already exists (the client reconnecting) streams that run
again from the log instead of starting another; `Last-Event-ID` skips what the client already has.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import orjson
from ag_ui.core import BaseEvent, RunAgentInput, TextPart, UserMessage
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from spendpilot.api.deps import ChatUser, ServicesDep
from spendpilot.auth.service import Principal
from spendpilot.errors import Conflict, InvalidInput, NotFound
from spendpilot.interop.agui_events import AguiRun
from spendpilot.runs.replay import follow_run
from spendpilot.services import Services

router = APIRouter(tags=["ag-ui"])

# Ids become primary keys (threads.id and runs.id hold 40 characters): UUIDs and Spendpilot's own ids fit.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_ENCODER = EventEncoder()


def _checked_id(value: str, name: str) -> str:
    if not _ID.match(value):
        raise InvalidInput("invalid_request", f"{name} must be 1 to 40 letters, digits, '-' or '_' (a UUID fits)")
    return value


def question_of(body: RunAgentInput) -> str:
    """The question a run answers: the conversation's last message, which must be the user's."""
    last = body.messages[-1] if body.messages else None
    if not isinstance(last, UserMessage):
        raise InvalidInput("invalid_message", "the last message must be the user's question (role 'user')")
    if isinstance(last.content, str):
        return last.content
    return "\n".join(part.text for part in last.content if isinstance(part, TextPart))


@router.post("/ag-ui")
async def run_agent(body: RunAgentInput, request: Request, principal: ChatUser, services: ServicesDep,
                    last_event_id: str | None = Header(default=None)) -> StreamingResponse:
    thread_id = _checked_id(body.thread_id, "threadId")
    run_id = _checked_id(body.run_id, "runId")
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    try:
        run = await services.runs.owned_run(principal, run_id)
    except NotFound:
        accepted = await services.runs.accept(principal, question_of(body), thread_id, run_id=run_id,
                                              create_thread=True)
        await services.runs.start(accepted)
        after = 0
    else:
        if run.thread_id != thread_id:
            raise Conflict("run_exists", "this runId belongs to another thread")
    return StreamingResponse(_stream(services, principal, thread_id, run_id, after, request),
                             media_type=_ENCODER.get_content_type(),
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(event: BaseEvent, seq: int | None = None) -> str:
    frame = _ENCODER.encode(event)
    return f"id: {seq}\n{frame}" if seq is not None else frame


async def _stream(services: Services, principal: Principal, thread_id: str, run_id: str, after: int,
                  request: Request) -> AsyncIterator[str]:
    """RUN_STARTED, then the run's events from the log and live, mapped; ends with the run.

    The whole log is read from the start, so the view knows every step and message that is open even
    when the client resumes after `after`; it sends only what comes later.
    """
    view = AguiRun(thread_id, run_id)
    if after == 0:
        yield _sse(view.started())
    async for event in follow_run(services.event_log, services.bus, principal.user_id, run_id, 0,
                                  idle_s=services.settings.heartbeat_s, gone=request.is_disconnected):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        seq, frame = event
        mapped = view.feed(orjson.loads(frame))
        if seq <= after:
            continue
        # The last AG-UI event of each run event carries its seq, for Last-Event-ID.
        for i, agui_event in enumerate(mapped):
            yield _sse(agui_event, seq if i == len(mapped) - 1 else None)
