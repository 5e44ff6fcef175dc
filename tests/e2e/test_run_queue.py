"""Runs beyond the process's run slots wait in a queue that tells them their place (run_queued, SPEC §4)."""

from __future__ import annotations

import httpx

from tests.e2e.checks import assert_run_well_formed, queue_places
from tests.support.client import burst, register

RUNS = 4


async def test_runs_over_capacity_are_told_their_place_and_still_run_from_seq_1(make_server):
    # One slot, and runs slowed down so that the queue lasts long enough to move.
    server = make_server(env={"SPENDPILOT_MAX_CONCURRENT_RUNS": "1", "SPENDPILOT_RUN_QUEUE_REPORT_S": "0.05",
                              "SPENDPILOT_RUN_STEP_DELAY_S": "0.05", "SPENDPILOT_SEED_DEMO": "0"})
    session = await register(server.url)
    # Sent at once, each starting its own thread: only the slot orders them.
    frames = await burst(server.ws_url, session["access_token"], RUNS)

    acks = [f for f in frames if f["type"] == "ack"]
    assert [a["data"]["client_id"] for a in acks] == [f"c{n}" for n in range(RUNS)]
    run_ids = [a["data"]["run_id"] for a in acks]
    queued = [f for f in frames if f["type"] == "run_queued"]
    positions = queue_places(frames, run_ids)
    assert positions[run_ids[0]] == []  # the first run took the free slot
    for place, run_id in enumerate(run_ids[1:], start=1):
        told = positions[run_id]
        assert told and told[0] == place, (run_id, told)
    # The last run moved up while it waited and was told so.
    assert len(positions[run_ids[-1]]) > 1

    headers = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        for ack in acks:
            run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
            events = [f for f in frames if f.get("run_id") == run_id]
            assert_run_well_formed(events, run_id, thread_id)
            assert events[-1]["type"] == "agent_completed"
            first_event = frames.index(events[0])
            # The ack comes first, then the place in the queue, then the run's own events.
            assert frames.index(ack) < min([first_event, *(frames.index(f) for f in queued
                                                           if f["data"]["run_id"] == run_id)])
            assert all(frames.index(f) < first_event for f in queued if f["data"]["run_id"] == run_id)
            stored = (await http.get(f"/api/runs/{run_id}/events")).json()
            assert stored == events
            assert all(e["type"] != "run_queued" for e in stored)
