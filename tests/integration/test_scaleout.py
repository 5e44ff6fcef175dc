"""Two API processes and two workers on the machine's PostgreSQL and Redis: any instance serves any run."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise

import httpx
import pytest

from spendpilot.runs.events import is_final
from tests.e2e.checks import assert_run_well_formed
from tests.integration.helpers import assert_ends_once, run_events, stored_events, until_pong
from tests.support.client import collect_run, open_socket, recv_json, register, send_message

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def cluster(module_clusters):
    # A short pause per event keeps runs going long enough to disconnect or cancel mid-way.
    cluster = module_clusters(env={"SPENDPILOT_RUN_STEP_DELAY_S": "0.1"})
    cluster.start(["api", "api", "worker", "worker"])
    return cluster


def apis(cluster):
    return [p for p in cluster.procs if p.role == "api"]


async def test_resume_on_another_instance_delivers_the_rest_exactly_once(cluster):
    a, b = apis(cluster)
    alice, bob = await register(a.url), await register(b.url)
    bob_ws = await open_socket(b.ws_url, bob["access_token"])
    ws = await open_socket(a.ws_url, alice["access_token"])
    ack = await send_message(ws)
    run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
    seen = await run_events(ws, run_id, 4)
    ws.transport.abort()  # the network drops; the client comes back through the other instance

    ws_b = await open_socket(b.ws_url, alice["access_token"])
    try:
        await ws_b.send(json.dumps({"type": "resume", "data": {"run_id": run_id, "after_seq": seen[-1]["seq"]}}))
        rest = await collect_run(ws_b, run_id)
        after_final = await until_pong(ws_b)
        bob_saw = await until_pong(bob_ws)
    finally:
        await ws_b.close()
        await bob_ws.close()

    assert rest[0]["seq"] == seen[-1]["seq"] + 1
    assert_run_well_formed(seen + rest, run_id, thread_id)
    assert not [f for f in after_final if f.get("run_id") == run_id], "events repeated after the final one"
    assert await stored_events(b.url, alice["access_token"], run_id) == seen + rest
    assert not [f for f in bob_saw if "run_id" in f], "another user's socket received run events"


async def test_tabs_on_two_instances_both_receive_the_run(cluster):
    a, b = apis(cluster)
    user = await register(a.url)
    tab_a = await open_socket(a.ws_url, user["access_token"])
    tab_b = await open_socket(b.ws_url, user["access_token"], carrier="subprotocol")
    try:
        ack = await send_message(tab_a)
        run_id = ack["data"]["run_id"]
        on_a, on_b = await asyncio.gather(collect_run(tab_a, run_id), collect_run(tab_b, run_id))
    finally:
        await tab_a.close()
        await tab_b.close()
    assert_run_well_formed(on_a, run_id, ack["data"]["thread_id"])
    assert on_b == on_a


async def test_a_thread_runs_its_messages_one_at_a_time_across_workers(cluster):
    a, _ = apis(cluster)
    user = await register(a.url)
    ws = await open_socket(a.ws_url, user["access_token"])
    try:
        first = await send_message(ws, "Analyze my AI costs")
        thread_id, run_ids = first["data"]["thread_id"], [first["data"]["run_id"]]
        for n, text in enumerate(("Which model is cheapest?", "And prompt caching?")):
            await ws.send(json.dumps({"type": "user_message", "id": f"more-{n}",
                                      "data": {"content": text, "thread_id": thread_id}}))
        arrived: list[dict] = []
        while len(run_ids) < 3 or sum(is_final(f["type"], f["data"]) for f in arrived) < 3:
            frame = await recv_json(ws, 60)
            if frame["type"] == "ack":
                run_ids.append(frame["data"]["run_id"])
            elif "run_id" in frame:
                arrived.append(frame)
    finally:
        await ws.close()
    assert {f["run_id"] for f in arrived} == set(run_ids)
    by_run = {run_id: [f for f in arrived if f["run_id"] == run_id] for run_id in run_ids}
    for run_id in run_ids:
        assert_ends_once(by_run[run_id], run_id)
    # With two idle workers the runs could overlap; FIFO per thread means they never do.
    order = [f["run_id"] for f in arrived]
    blocks = [run_id for i, run_id in enumerate(order) if i == 0 or order[i - 1] != run_id]
    assert blocks == run_ids, "runs of one thread interleaved or ran out of order"
    for before, after in pairwise(run_ids):
        assert by_run[after][0]["ts"] >= by_run[before][-1]["ts"]


async def test_cancel_sent_to_one_instance_stops_the_run_on_its_worker(cluster):
    a, b = apis(cluster)
    user = await register(a.url)
    ws = await open_socket(a.ws_url, user["access_token"])
    try:
        ack = await send_message(ws)
        run_id = ack["data"]["run_id"]
        seen = await run_events(ws, run_id, 2)
        async with httpx.AsyncClient(base_url=b.url, headers={"Authorization": f"Bearer {user['access_token']}"}) as h:
            response = await h.post(f"/api/runs/{run_id}/cancel")
            assert response.status_code == 202 and response.json()["cancel_requested"] is True
        rest = await collect_run(ws, run_id)
    finally:
        await ws.close()
    final = assert_ends_once(seen + rest, run_id)
    assert final["type"] == "run_cancelled"
    assert not any(e["type"] == "agent_completed" and e["data"].get("final") for e in rest)
