"""RunEventLog: concurrent appends share a transaction, each caller learns the fate of its own event."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from spendpilot.runs.ending import set_status
from spendpilot.runs.event_log import RunAlreadyFinished
from spendpilot.runs.status import RunStatus
from spendpilot.store.models import Org


@pytest.fixture
def commits(db):
    """How many transactions the event log's connection committed since the test began."""
    count = [0]

    def on_commit(_conn):
        count[0] += 1

    event.listen(db.write_engine, "commit", on_commit)
    yield count
    event.remove(db.write_engine, "commit", on_commit)


async def test_many_concurrent_appends_are_all_stored_in_few_transactions(event_log, commits):
    runs = [f"run_{i}" for i in range(5)]
    await asyncio.gather(*(event_log.append(run, seq, "agent_thinking", f"{run}:{seq}")
                           for seq in range(1, 41) for run in runs))
    for run in runs:
        stored = await event_log.after(run, 0)
        assert stored == [(seq, f"{run}:{seq}") for seq in range(1, 41)]
        assert await event_log.last_seq(run) == 40
    # 200 appends that waited together were committed together, not one transaction each.
    assert 1 <= commits[0] <= 10


async def test_after_and_last_seq_read_ranges_of_one_run(event_log):
    for seq in range(1, 6):
        await event_log.append("run_a", seq, "agent_thinking", f"a{seq}")
    await event_log.append("run_b", 1, "agent_thinking", "b1")
    assert [seq for seq, _ in await event_log.after("run_a", 2)] == [3, 4, 5]
    assert await event_log.after("run_a", 1, upto=3) == [(2, "a2"), (3, "a3")]
    assert await event_log.after("run_a", 5) == []
    assert await event_log.last_seq("run_a") == 5
    assert await event_log.last_seq("run_b") == 1
    assert await event_log.last_seq("run_unknown") == 0


async def test_a_seq_written_twice_fails_only_its_own_append(event_log):
    await event_log.append("run_a", 1, "agent_thinking", "first")
    results = await asyncio.gather(
        event_log.append("run_a", 2, "agent_thinking", "a2"),
        event_log.append("run_a", 1, "agent_thinking", "second"),
        event_log.append("run_b", 1, "agent_thinking", "b1"),
        return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    assert await event_log.after("run_a", 0) == [(1, "first"), (2, "a2")]
    assert await event_log.after("run_b", 0) == [(1, "b1")]


async def test_a_refused_also_write_is_rolled_back_alone_and_its_neighbours_are_stored(event_log, rows, db):
    finished = await rows.run(status=RunStatus.COMPLETED)  # a closed run refuses a status change
    open_run = await rows.run(status=RunStatus.QUEUED)

    def add_org(session):
        session.add(Org(id="org_from_refused_batch", name="x", created_at=finished.created_at))

    def add_org_then_refuse(session):
        add_org(session)
        set_status(finished.id, RunStatus.RUNNING)(session)

    results = await asyncio.gather(
        event_log.append("run_n1", 1, "agent_thinking", "n1"),
        event_log.append(finished.id, 1, "agent_started", "refused", also=add_org_then_refuse),
        event_log.append(open_run.id, 1, "agent_started", "started", also=set_status(open_run.id, RunStatus.RUNNING)),
        event_log.append("run_n2", 1, "agent_thinking", "n2"),
        return_exceptions=True)
    assert isinstance(results[1], RunAlreadyFinished)
    assert [results[0], results[2], results[3]] == [None, None, None]
    # The refused event and everything its write did are gone; its neighbours and their writes are stored.
    assert await event_log.after(finished.id, 0) == []
    async with db.session() as s:
        assert await s.scalar(select(Org.id).where(Org.id == "org_from_refused_batch")) is None
    assert await event_log.after("run_n1", 0) == [(1, "n1")]
    assert await event_log.after("run_n2", 0) == [(1, "n2")]
    assert await event_log.after(open_run.id, 0) == [(1, "started")]
    assert (await rows.get_run(open_run.id)).status == RunStatus.RUNNING
    assert (await rows.get_run(finished.id)).status == RunStatus.COMPLETED


async def test_a_failing_also_write_fails_every_event_of_its_transaction_and_stores_none(event_log):
    def broken(_session):
        raise RuntimeError("write failed")

    results = await asyncio.gather(
        event_log.append("run_n1", 1, "agent_thinking", "n1"),
        event_log.append("run_x", 1, "agent_thinking", "x", also=broken),
        event_log.append("run_n2", 1, "agent_thinking", "n2"),
        return_exceptions=True)
    # No caller is told its event is stored when the transaction that held it was rolled back.
    for run, result in zip(("run_n1", "run_x", "run_n2"), results, strict=True):
        stored = await event_log.after(run, 0)
        assert (result is None) == (stored != []), (run, result, stored)
    assert isinstance(results[1], RuntimeError)


async def test_the_writer_keeps_going_after_a_failed_batch(event_log):
    def broken(_session):
        raise RuntimeError("write failed")

    with pytest.raises(RuntimeError):
        await event_log.append("run_x", 1, "agent_thinking", "x", also=broken)
    await event_log.append("run_x", 1, "agent_thinking", "again")
    assert await event_log.after("run_x", 0) == [(1, "again")]


async def test_an_append_cancelled_while_waiting_is_still_stored(event_log):
    task = asyncio.create_task(event_log.append("run_c", 1, "agent_thinking", "c1"))
    await asyncio.sleep(0)  # the append is queued for the writer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await event_log.append("run_c", 2, "agent_thinking", "c2")  # commits after the cancelled one's batch
    assert [seq for seq, _ in await event_log.after("run_c", 0)] == [1, 2]
