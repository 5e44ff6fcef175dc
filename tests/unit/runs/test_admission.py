"""The run slots and their queue: arrival order, positions told and updated, slots never lost or doubled."""

from __future__ import annotations

import asyncio

import pytest

from spendpilot.runs.admission import RunAdmission
from spendpilot.runs.emitter import RunJob


def job(n: int) -> RunJob:
    return RunJob(run_id=f"run_{n}", thread_id=f"thr_{n}", user_id="usr", org_id="org", content="q", deadline_ts=0)


class Told:
    def __init__(self) -> None:
        self.reports: list[tuple[str, int]] = []

    async def __call__(self, run: RunJob, position: int) -> None:
        self.reports.append((run.run_id, position))

    def of(self, run_id: str) -> list[int]:
        return [p for r, p in self.reports if r == run_id]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_runs_within_capacity_start_at_once_and_are_never_told_of_a_queue():
    told = Told()
    admission = RunAdmission(2, told)
    await admission.enter(job(1))
    await admission.enter(job(2))
    assert admission.running == 2 and admission.waiting == 0
    assert told.reports == []


async def test_runs_beyond_capacity_wait_in_arrival_order_and_are_told_their_place():
    told = Told()
    admission = RunAdmission(1, told, report_every_s=60)
    await admission.enter(job(0))
    started: list[int] = []

    async def run(n: int) -> None:
        await admission.enter(job(n))
        started.append(n)

    tasks = [asyncio.create_task(run(n)) for n in (1, 2, 3)]
    await settle()
    assert started == [] and admission.waiting == 3
    assert told.reports == [("run_1", 1), ("run_2", 2), ("run_3", 3)]
    for expected in ([1], [1, 2], [1, 2, 3]):
        admission.leave()
        await settle()
        assert started == expected
    await asyncio.gather(*tasks)
    assert admission.running == 1 and admission.waiting == 0


async def test_a_waiting_run_is_told_again_as_it_moves_up():
    told = Told()
    admission = RunAdmission(1, told, report_every_s=0.01)
    await admission.enter(job(0))
    tasks = [asyncio.create_task(admission.enter(job(n))) for n in (1, 2, 3)]
    await settle()
    admission.leave()  # run_1 starts; run_2 and run_3 move up one place
    await asyncio.sleep(0.05)
    assert told.of("run_3") == [3, 2]
    assert told.of("run_2") == [2, 1]
    assert told.of("run_1") == [1]  # started: never told again
    admission.leave()
    admission.leave()
    await asyncio.gather(*tasks)
    await asyncio.sleep(0.03)
    assert all(a > b for a, b in zip(told.of("run_3"), told.of("run_3")[1:], strict=False))


async def test_a_cancelled_waiter_leaves_the_queue_and_the_next_moves_up():
    told = Told()
    admission = RunAdmission(1, told, report_every_s=60)
    await admission.enter(job(0))
    first = asyncio.create_task(admission.enter(job(1)))
    second = asyncio.create_task(admission.enter(job(2)))
    await settle()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert admission.waiting == 1
    admission.leave()
    await second
    assert admission.running == 1 and admission.waiting == 0


async def test_a_slot_handed_to_a_run_that_gave_up_passes_to_the_next():
    admission = RunAdmission(1, Told(), report_every_s=60)
    await admission.enter(job(0))
    first = asyncio.create_task(admission.enter(job(1)))
    second = asyncio.create_task(admission.enter(job(2)))
    await settle()
    admission.leave()  # granted to run_1 ...
    first.cancel()  # ... which is cancelled before it resumes (its deadline, say)
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert admission.running == 1
    admission.leave()
    assert admission.running == 0


async def test_a_failing_report_does_not_lose_the_run():
    async def broken(run: RunJob, position: int) -> None:
        raise RuntimeError("no sockets")

    admission = RunAdmission(1, broken, report_every_s=60)
    await admission.enter(job(0))
    waiting = asyncio.create_task(admission.enter(job(1)))
    await settle()
    admission.leave()
    await asyncio.wait_for(waiting, 1)
    assert admission.running == 1


def test_capacity_must_allow_a_run():
    with pytest.raises(ValueError):
        RunAdmission(0, Told())


async def test_the_expected_wait_follows_the_pace_slots_are_freed(monkeypatch):
    from spendpilot.runs import admission as module

    now = [100.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    admission = RunAdmission(1, Told(), report_every_s=60)
    assert admission.expected_wait_s() == 0.0
    await admission.enter(job(0))
    waiting = [asyncio.create_task(admission.enter(job(n))) for n in range(1, 6)]
    await settle()
    assert admission.expected_wait_s() == 0.0  # no pace measured yet
    for _ in range(2):
        now[0] += 0.5
        admission.leave()
        await settle()
    # Three runs wait, and a slot was freed every half second.
    assert admission.waiting == 3
    assert admission.expected_wait_s() == 1.5
    for _ in range(4):
        admission.leave()
    await asyncio.gather(*waiting)
