"""RunService: a message, its thread and its run are stored together or not at all, within the user's limits."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from sqlalchemy import event, func, select

from spendpilot.agents.offline import OfflineModel
from spendpilot.auth.permissions import Role
from spendpilot.auth.service import Principal
from spendpilot.errors import InvalidInput, NotFound, RateLimited
from spendpilot.runs.ending import ERROR_MESSAGES, end_cancelled
from spendpilot.runs.executors import LocalExecutor
from spendpilot.runs.service import MAX_CONTENT_CHARS, RunService
from spendpilot.runs.status import RunStatus
from spendpilot.store.models import Message, Run, Thread

ANSWER = {"summary": "s", "duration_ms": 1.0, "final_response": "## Answer", "report": {"recommendations": []}}


async def answer_at_once(ctx) -> dict:
    await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
    return ANSWER


async def wait_for_cancel(ctx) -> dict:
    await ctx.emit("agent_started", {"agent": "supervisor", "description": "plans"})
    await ctx.until_cancelled(asyncio.Event().wait())
    return ANSWER


@pytest.fixture
async def make_service(db, event_log, bus):
    executors: list[LocalExecutor] = []

    def make(pipeline=answer_at_once, max_active: int = 8) -> RunService:
        executor = LocalExecutor(event_log=event_log, bus=bus, pipeline=pipeline, analytics=object(),
                                 model=OfflineModel())
        executors.append(executor)
        return RunService(db, event_log, bus, executor, deadline_s=30.0, max_active_per_user=max_active)

    yield make
    for executor in executors:
        await executor.close()


@pytest.fixture
async def principal(rows) -> Principal:
    user = await rows.user()
    return Principal(user.id, user.org_id, user.email, int(time.time()) + 900, role=Role.ADMIN, session_id="fam_test")


async def counts(db) -> tuple[int, int, int]:
    async with db.session() as s:
        return tuple([await s.scalar(select(func.count()).select_from(model)) for model in (Thread, Message, Run)])


async def test_accept_stores_message_thread_and_run_in_one_transaction(make_service, principal, db, rows):
    service = make_service()
    committed = [0]

    def on_commit(_conn):
        committed[0] += 1

    # Counted on every pool: the writer's and the readers' (one and the same on PostgreSQL).
    engines = {db.engine.sync_engine, db.write_engine}
    for engine in engines:
        event.listen(engine, "commit", on_commit)
    try:
        accepted = await service.accept(principal, "  Analyze my AI costs\n", None, client_id="c-1")
    finally:
        for engine in engines:
            event.remove(engine, "commit", on_commit)
    assert committed[0] == 1
    run = await rows.get_run(accepted.run_id)
    assert (run.thread_id, run.user_id, run.org_id, run.status, run.last_seq, run.content) == (
        accepted.thread_id, principal.user_id, principal.org_id, RunStatus.QUEUED, 0, "Analyze my AI costs")
    [message] = await rows.messages(accepted.thread_id)
    assert (message.id, message.role, message.content, message.run_id, message.client_id, message.user_id) == (
        accepted.message_id, "user", "Analyze my AI costs", accepted.run_id, "c-1", principal.user_id)
    async with db.session() as s:
        thread = await s.get(Thread, accepted.thread_id)
    assert (thread.user_id, thread.title) == (principal.user_id, "Analyze my AI costs")
    assert (accepted.job.run_id, accepted.job.thread_id, accepted.job.content) == (
        accepted.run_id, accepted.thread_id, "Analyze my AI costs")
    assert accepted.job.deadline_ts == pytest.approx(time.time() + 30.0, abs=5)


async def test_a_long_first_message_gives_a_shortened_one_line_title(make_service, principal, db):
    accepted = await make_service().accept(principal, "word " * 40 + "\nsecond line", None)
    async with db.session() as s:
        title = (await s.get(Thread, accepted.thread_id)).title
    assert len(title) == 60 and title.endswith("...") and "\n" not in title


async def test_a_message_to_an_existing_thread_joins_it(make_service, principal, db):
    service = make_service()
    first = await service.accept(principal, "first", None)
    async with db.session() as s:
        before = (await s.get(Thread, first.thread_id)).updated_at
    second = await service.accept(principal, "second", first.thread_id)
    assert second.thread_id == first.thread_id and second.run_id != first.run_id
    async with db.session() as s:
        assert (await s.get(Thread, first.thread_id)).updated_at > before
    assert await counts(db) == (1, 2, 2)


@pytest.mark.parametrize("content", ["", "   ", "\n\t ", "x" * (MAX_CONTENT_CHARS + 1)])
async def test_empty_or_oversized_content_is_refused_and_nothing_is_stored(make_service, principal, db, content):
    with pytest.raises(InvalidInput) as refused:
        await make_service().accept(principal, content, None)
    assert (refused.value.code, refused.value.status) == ("invalid_message", 422)
    assert await counts(db) == (0, 0, 0)


async def test_content_of_exactly_the_limit_is_accepted(make_service, principal):
    accepted = await make_service().accept(principal, "x" * MAX_CONTENT_CHARS, None)
    assert len(accepted.job.content) == MAX_CONTENT_CHARS


async def test_another_users_thread_is_not_found_and_nothing_is_stored(make_service, principal, rows, db):
    service = make_service()
    mine = await service.accept(principal, "mine", None)
    other = await rows.user()
    intruder = Principal(other.id, other.org_id, other.email, int(time.time()) + 900, role=Role.ADMIN,
                         session_id="fam_test")
    for thread_id in (mine.thread_id, "thr_does_not_exist"):
        with pytest.raises(NotFound) as refused:
            await service.accept(intruder, "let me in", thread_id)
        assert (refused.value.code, refused.value.status) == ("not_found", 404)
    assert await counts(db) == (1, 1, 1)


async def test_the_active_run_cap_refuses_one_more_until_a_run_ends(make_service, principal, rows, db, event_log, bus):
    service = make_service(max_active=2)
    first = await service.accept(principal, "one", None)
    await service.accept(principal, "two", None)
    with pytest.raises(RateLimited) as refused:
        await service.accept(principal, "three", None)
    assert (refused.value.code, refused.value.status) == ("too_many_runs", 429)
    assert await counts(db) == (2, 2, 2)
    # Another user has a cap of their own.
    other = await rows.user()
    theirs = Principal(other.id, other.org_id, other.email, 0, role=Role.ADMIN, session_id="fam_test")
    await service.accept(theirs, "theirs", None)
    # Once a run ends, there is room again.
    await end_cancelled(event_log, bus, await rows.get_run(first.run_id))
    await service.accept(principal, "three", None)


async def test_concurrent_messages_cannot_overshoot_the_cap(make_service, principal, db):
    service = make_service(max_active=3)
    results = await asyncio.gather(*(service.accept(principal, f"m{i}", None) for i in range(8)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(refused) == 3
    assert all(isinstance(r, RateLimited) and r.code == "too_many_runs" for r in refused)
    assert await counts(db) == (3, 3, 3)


async def test_a_started_run_executes_and_ends_with_its_answer(make_service, principal, bus, event_log, rows):
    service = make_service()
    finals: list[dict] = []
    done = asyncio.Event()

    def on_event(run_id, seq, frame):
        decoded = orjson.loads(frame)
        if decoded["data"].get("final") is True:
            finals.append(decoded)
            done.set()

    bus.subscribe_user(principal.user_id, on_event)
    accepted = await service.accept(principal, "Analyze my AI costs", None)
    await service.start(accepted)
    await asyncio.wait_for(done.wait(), 10)
    assert [f["type"] for f in finals] == ["agent_completed"]
    assert (await rows.get_run(accepted.run_id)).status == RunStatus.COMPLETED
    assert [e for _, e in await rows.events(accepted.run_id)] == ["agent_started", "agent_completed"]
    events = await service.events_after(principal, accepted.run_id, 1)
    assert [seq for seq, _ in events] == [2]


async def test_cancel_reaches_the_running_run(make_service, principal, bus, rows):
    service = make_service(pipeline=wait_for_cancel)
    started, ended = asyncio.Event(), asyncio.Event()
    bus.subscribe_user(principal.user_id, lambda run_id, seq, frame: (ended if seq > 1 else started).set())
    accepted = await service.accept(principal, "Analyze my AI costs", None)
    await service.start(accepted)
    await asyncio.wait_for(started.wait(), 10)
    await service.cancel(principal, accepted.run_id)
    await asyncio.wait_for(ended.wait(), 10)
    assert [e for _, e in await rows.events(accepted.run_id)] == ["agent_started", "run_cancelled"]
    assert (await rows.get_run(accepted.run_id)).status == RunStatus.CANCELLED


async def test_runs_and_their_events_are_private_to_their_owner(make_service, principal, rows):
    service = make_service()
    accepted = await service.accept(principal, "mine", None)
    assert (await service.owned_run(principal, accepted.run_id)).id == accepted.run_id
    other = await rows.user()
    intruder = Principal(other.id, other.org_id, other.email, 0, role=Role.ADMIN, session_id="fam_test")
    for call in (service.owned_run(intruder, accepted.run_id), service.events_after(intruder, accepted.run_id, 0),
                 service.cancel(intruder, accepted.run_id), service.owned_run(principal, "run_missing")):
        with pytest.raises(NotFound):
            await call


async def test_end_interrupted_runs_ends_every_open_run_once(make_service, principal, rows, event_log, bus):
    service = make_service()
    queued = await service.accept(principal, "queued", None)
    running = await rows.run(status=RunStatus.RUNNING)
    done = await rows.run(status=RunStatus.COMPLETED)
    assert await service.end_interrupted_runs() == 2
    for run_id in (queued.run_id, running.id):
        frames = [orjson.loads(f) for _, f in await event_log.after(run_id, 0)]
        assert [(f["type"], f["data"]["code"], f["data"]["message"]) for f in frames] == [
            ("agent_error", "interrupted", ERROR_MESSAGES["interrupted"])]
        assert (await rows.get_run(run_id)).status == RunStatus.FAILED
    assert await event_log.after(done.id, 0) == []
    assert (await rows.get_run(done.id)).status == RunStatus.COMPLETED
    assert await service.end_interrupted_runs() == 0
