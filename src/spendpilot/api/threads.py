"""Threads and their messages; another user's thread is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, select

from spendpilot.api.deps import ChatUser, ServicesDep
from spendpilot.auth.service import Principal
from spendpilot.clock import iso, utcnow
from spendpilot.errors import NotFound
from spendpilot.ids import new_id
from spendpilot.runs.status import OPEN
from spendpilot.store.models import Message, Run, RunEvent, Share, Thread

router = APIRouter(tags=["threads"])


class ThreadCreate(BaseModel):
    title: str | None = Field(default=None, max_length=200)


class ThreadUpdate(BaseModel):
    title: str = Field(min_length=1, max_length=200)


def thread_view(thread: Thread) -> dict:
    return {"id": thread.id, "title": thread.title, "created_at": iso(thread.created_at),
            "updated_at": iso(thread.updated_at)}


def message_view(message: Message) -> dict:
    view: dict[str, Any] = {"id": message.id, "role": message.role, "content": message.content,
                            "run_id": message.run_id, "created_at": iso(message.created_at)}
    if message.report is not None:
        view["report"] = message.report
    # The history of regenerated and edited answers (SPEC §13): present only where it applies.
    for key in ("edits", "regenerates", "superseded_by"):
        if (value := getattr(message, key)) is not None:
            view[key] = value
    return view


async def owned_thread(s, principal: Principal, thread_id: str) -> Thread:
    """The caller's own thread in the org of their session: threads are private to their author, and
    one made in another org (whose figures it holds) stays there."""
    thread = await s.get(Thread, thread_id)
    if thread is None or thread.user_id != principal.user_id or thread.org_id != principal.org_id:
        raise NotFound.of("thread")
    return thread


@router.get("/api/threads")
async def list_threads(principal: ChatUser, services: ServicesDep, q: str | None = None, limit: int = 100):
    query = select(Thread).where(Thread.user_id == principal.user_id, Thread.org_id == principal.org_id)
    if q:
        query = query.where(Thread.title.ilike(f"%{q[:100]}%"))
    async with services.db.session() as s:
        threads = await s.scalars(query.order_by(Thread.updated_at.desc()).limit(max(1, min(limit, 500))))
        return [thread_view(t) for t in threads]


@router.post("/api/threads", status_code=201)
async def create_thread(body: ThreadCreate, principal: ChatUser, services: ServicesDep):
    now = utcnow()
    thread = Thread(id=new_id("thr"), user_id=principal.user_id, org_id=principal.org_id,
                    title=(body.title or "New chat").strip() or "New chat", created_at=now, updated_at=now)
    async with services.db.session() as s:
        s.add(thread)
        await s.commit()
    return thread_view(thread)


@router.get("/api/threads/{thread_id}")
async def get_thread(thread_id: str, principal: ChatUser, services: ServicesDep):
    async with services.db.session() as s:
        return thread_view(await owned_thread(s, principal, thread_id))


@router.patch("/api/threads/{thread_id}")
async def rename_thread(thread_id: str, body: ThreadUpdate, principal: ChatUser, services: ServicesDep):
    async with services.db.session() as s:
        thread = await owned_thread(s, principal, thread_id)
        thread.title = body.title.strip() or thread.title
        thread.updated_at = utcnow()
        await s.commit()
        return thread_view(thread)


@router.delete("/api/threads/{thread_id}", status_code=204)
async def delete_thread(thread_id: str, principal: ChatUser, services: ServicesDep):
    async with services.db.session() as s:
        thread = await owned_thread(s, principal, thread_id)
        active = await s.scalars(select(Run.id).where(Run.thread_id == thread.id, Run.status.in_(OPEN)))
        for run_id in active:
            await services.bus.request_cancel(run_id)
        run_ids = select(Run.id).where(Run.thread_id == thread.id)
        # Its share links stop working with it.
        await s.execute(delete(Share).where(Share.thread_id == thread.id))
        await s.execute(delete(RunEvent).where(RunEvent.run_id.in_(run_ids)))
        await s.execute(delete(Message).where(Message.thread_id == thread.id))
        await s.execute(delete(Run).where(Run.thread_id == thread.id))
        await s.delete(thread)
        await s.commit()
    return Response(status_code=204)


async def thread_messages(s, thread_id: str) -> list[dict]:
    """Every message of a thread in order, as GET /messages shows them (a question before its answer)."""
    messages = await s.scalars(select(Message).where(Message.thread_id == thread_id)
                               .order_by(Message.created_at, Message.role.desc()))
    return [message_view(m) for m in messages]


@router.get("/api/threads/{thread_id}/messages")
async def list_messages(thread_id: str, principal: ChatUser, services: ServicesDep):
    async with services.db.session() as s:
        await owned_thread(s, principal, thread_id)
        return await thread_messages(s, thread_id)
