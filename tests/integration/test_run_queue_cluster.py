"""On a split deployment, runs waiting for a worker are told their place in the shared queue (run_queued, SPEC §4),
as `spendpilot up` tells runs waiting for a run slot."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.checks import assert_run_well_formed, queue_places
from tests.support.client import burst, register

pytestmark = pytest.mark.services

RUNS = 4


@pytest.fixture(scope="module")
def cluster(module_clusters):
    # One worker that takes one run at a time, and runs slowed down so that the queue lasts long enough to move.
    cluster = module_clusters(env={"SPENDPILOT_WORKER_MAX_JOBS": "1", "SPENDPILOT_RUN_STEP_DELAY_S": "0.05",
                                   "SPENDPILOT_RUN_QUEUE_REPORT_S": "0.1"})
    cluster.start(["api", "worker"])
    return cluster


async def test_runs_waiting_for_a_worker_are_told_their_place_and_still_run_from_seq_1(cluster):
    api = next(p for p in cluster.procs if p.role == "api")
    session = await register(api.url)
    # Sent at once, each starting its own thread: only the worker's capacity orders them.
    frames = await burst(api.ws_url, session["access_token"], RUNS, timeout=60)

    acks = [f for f in frames if f["type"] == "ack"]
    run_ids = [a["data"]["run_id"] for a in acks]
    assert len(run_ids) == RUNS
    queued = [f for f in frames if f["type"] == "run_queued"]
    # The worker takes runs in the order they were accepted; each one after the first waited for it.
    started = sorted(run_ids, key=lambda run_id: frames.index(next(f for f in frames if f.get("run_id") == run_id)))
    assert started == run_ids
    positions = queue_places(frames, run_ids)
    assert positions[run_ids[0]] == []  # taken at once by the idle worker
    for run_id in run_ids[1:]:
        assert positions[run_id], (run_id, positions)
    # The last run waited behind the others, and was told so as it moved up.
    assert positions[run_ids[-1]][0] >= 2
    assert positions[run_ids[-1]][-1] < positions[run_ids[-1]][0]

    headers = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        for ack in acks:
            run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
            events = [f for f in frames if f.get("run_id") == run_id]
            assert_run_well_formed(events, run_id, thread_id)
            # Told its place only while it waited: before its own first event.
            first_event = frames.index(events[0])
            assert all(frames.index(f) < first_event for f in queued if f["data"]["run_id"] == run_id)
            stored = (await http.get(f"/api/runs/{run_id}/events")).json()
            assert stored == events
