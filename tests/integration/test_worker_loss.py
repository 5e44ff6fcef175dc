"""Workers that die or stop: every run still ends with one final event, and queued runs go on.

One API process serves the module; each test starts the workers it needs.
"""

from __future__ import annotations

import asyncio
import json
import signal

import httpx
import pytest

from spendpilot.runs.events import is_final
from tests.e2e.checks import assert_run_well_formed
from tests.integration.helpers import assert_ends_once, run_events
from tests.support.client import collect_run, open_socket, recv_json, register, send_message

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster(module_clusters):
    cluster = module_clusters()
    cluster.start(["api"])
    return cluster


@pytest.fixture
def api(request, cluster):
    yield cluster.procs[0]
    for proc in cluster.procs[1:]:  # this test's workers must not serve the next one
        proc.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        print(cluster.logs())


async def test_sigkill_of_the_worker_ends_the_run_once_and_the_next_message_still_runs(cluster, api):
    # Slow enough that the kill lands mid-run; lease 3 s, watchdog every 0.5 s (see conftest).
    [worker] = await cluster.astart(["worker"], env={"SPENDPILOT_RUN_STEP_DELAY_S": "0.3"})
    user = await register(api.url)
    ws = await open_socket(api.ws_url, user["access_token"])
    try:
        first = await send_message(ws)
        run_id, thread_id = first["data"]["run_id"], first["data"]["thread_id"]
        await ws.send(json.dumps({"type": "user_message", "id": "second",
                                  "data": {"content": "And the caching potential?", "thread_id": thread_id}}))
        seen, second_id = [], None
        while len(seen) < 3 or second_id is None:
            frame = await recv_json(ws, 30)
            if frame["type"] == "ack":
                second_id = frame["data"]["run_id"]
            elif frame.get("run_id") == run_id:
                seen.append(frame)

        worker.signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait_exit)
        rest = await collect_run(ws, run_id, timeout=60)
        events = seen + rest
        final = assert_ends_once(events, run_id)
        assert final["type"] == "agent_error" and final["data"]["code"] == "worker_lost"
        assert_run_well_formed(events, run_id, thread_id)

        # The second message waited its turn; it was never started, so a new worker runs it whole.
        await cluster.astart(["worker"])
        second = await collect_run(ws, second_id, timeout=60)
    finally:
        await ws.close()
    assert_run_well_formed(second, second_id, thread_id)
    assert second[-1]["type"] == "agent_completed"
    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {user['access_token']}"}) as h:
        stored = (await h.get(f"/api/runs/{run_id}")).json()
    assert stored["status"] == "failed" and stored["last_seq"] == len(events)


async def test_a_stopping_worker_finishes_its_run_hands_back_waiting_ones_and_exits(cluster, api):
    [worker] = await cluster.astart(["worker"], env={"SPENDPILOT_RUN_STEP_DELAY_S": "0.1",
                                                     "SPENDPILOT_WORKER_MAX_JOBS": "1",
                                                     "SPENDPILOT_WORKER_DRAIN_S": "60"})
    user = await register(api.url)
    ws = await open_socket(api.ws_url, user["access_token"])
    other = await open_socket(api.ws_url, user["access_token"])
    try:
        running = await send_message(ws)
        run_id = running["data"]["run_id"]
        seen = await run_events(ws, run_id, 2)
        # A run of another thread waits in the queue: the worker has one slot, and it is taken.
        waiting = await send_message(other, "Where does my money go?")
        worker.signal(signal.SIGTERM)
        rest = await collect_run(ws, run_id, timeout=60)
        assert await asyncio.to_thread(worker.wait_exit) == 0
        final = assert_ends_once(seen + rest, run_id)
        assert final["type"] == "agent_completed", final

        await cluster.astart(["worker"])
        handed_back = await collect_run(other, waiting["data"]["run_id"], timeout=60)
    finally:
        await ws.close()
        await other.close()
    assert_run_well_formed(handed_back, waiting["data"]["run_id"], waiting["data"]["thread_id"])
    assert handed_back[-1]["type"] == "agent_completed"


async def test_a_worker_stopped_past_its_drain_time_ends_its_run_with_one_final(cluster, api):
    [worker] = await cluster.astart(["worker"], env={"SPENDPILOT_RUN_STEP_DELAY_S": "0.5",
                                                     "SPENDPILOT_WORKER_DRAIN_S": "0.5"})
    user = await register(api.url)
    ws = await open_socket(api.ws_url, user["access_token"])
    try:
        ack = await send_message(ws)
        run_id = ack["data"]["run_id"]
        seen = await run_events(ws, run_id, 2)
        worker.signal(signal.SIGTERM)
        rest = await collect_run(ws, run_id, timeout=60)
    finally:
        await ws.close()
    assert await asyncio.to_thread(worker.wait_exit) == 0
    final = assert_ends_once(seen + rest, run_id)
    assert final["type"] == "agent_error" and final["data"]["code"] == "worker_stopped"


async def test_runs_whose_job_was_lost_or_taken_by_a_dead_worker_are_queued_again(cluster, api):
    from redis.asyncio import Redis

    user = await register(api.url)
    ws = await open_socket(api.ws_url, user["access_token"])
    prefix = cluster.env["SPENDPILOT_REDIS_PREFIX"]
    redis = Redis.from_url(cluster.redis_url)
    try:
        # No worker runs yet, so both jobs wait in the queue.
        lost = (await send_message(ws, "Analyze my AI costs"))["data"]["run_id"]
        orphaned = (await send_message(ws, "Where does my money go?"))["data"]["run_id"]
        # One job vanishes (Redis restarted without its data); the other looks taken by a
        # worker that died before it took the run's lease (arq's in-progress mark outlives it).
        await redis.zrem(f"{prefix}:queue", lost)
        await redis.delete(f"arq:job:{lost}")
        await redis.set(f"arq:in-progress:{orphaned}", b"1", ex=120)

        await cluster.astart(["worker"])
        events = {run_id: [] for run_id in (lost, orphaned)}
        while not all(e and is_final(e[-1]["type"], e[-1]["data"]) for e in events.values()):
            frame = await recv_json(ws, 60)
            if frame.get("run_id") in events:
                events[frame["run_id"]].append(frame)
    finally:
        await ws.close()
        await redis.aclose()
    for run_id, received in events.items():
        assert assert_ends_once(received, run_id)["type"] == "agent_completed"
        assert received[0]["type"] == "agent_started"
