"""Exports: a thread as Markdown or JSON, a run's report as JSON or CSV (SPEC §13). Only the author's own."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from spendpilot.api.deps import ChatUser, ServicesDep
from spendpilot.api.threads import owned_thread, thread_messages, thread_view
from spendpilot.clock import iso, utcnow
from spendpilot.errors import Conflict, InvalidInput
from spendpilot.sharing.export import REPORT_FORMATS, THREAD_FORMATS, report_csv, slug, thread_markdown
from spendpilot.store.models import Message

router = APIRouter(tags=["export"])


def _format(value: str, allowed: tuple[str, ...]) -> str:
    chosen = value.strip().lower()
    if chosen not in allowed:
        raise InvalidInput("invalid_format", f"format must be one of: {', '.join(allowed)}")
    return chosen


def _attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


@router.get("/api/threads/{thread_id}/export")
async def export_thread(thread_id: str, principal: ChatUser, services: ServicesDep,
                        format: str = Query(default="markdown", max_length=20, description="markdown or json")):
    async with services.db.session() as s:
        thread = thread_view(await owned_thread(s, principal, thread_id))
        messages = await thread_messages(s, thread_id)
    chosen = _format(format, THREAD_FORMATS)
    name = slug(thread["title"])
    if chosen == "markdown":
        return Response(thread_markdown(thread, messages), media_type="text/markdown; charset=utf-8",
                        headers=_attachment(f"{name}.md"))
    return JSONResponse({"thread": thread, "messages": messages, "exported_at": iso(utcnow())},
                        headers=_attachment(f"{name}.json"))


@router.get("/api/runs/{run_id}/report")
async def export_report(run_id: str, principal: ChatUser, services: ServicesDep,
                        format: str = Query(default="json", max_length=20, description="json or csv")):
    run = await services.runs.owned_run(principal, run_id)
    async with services.db.session() as s:
        report = await s.scalar(select(Message.report).where(Message.run_id == run.id, Message.role == "assistant",
                                                             Message.report.is_not(None)))
    chosen = _format(format, REPORT_FORMATS)
    if report is None:
        raise Conflict("no_report", "this run has no report: it has not completed with an answer")
    if chosen == "csv":
        return Response(report_csv(report), media_type="text/csv; charset=utf-8",
                        headers=_attachment(f"spendpilot-report-{run.id}.csv"))
    return JSONResponse(report, headers={"Cache-Control": "no-store"})
