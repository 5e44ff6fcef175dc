"""Each guarantee of SPEC §4, shown against a real server with real sockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from spendpilot.runs.events import is_final
from tests.e2e.checks import assert_run_well_formed
from tests.support.client import collect_run, login, next_of, open_socket, recv_json, register, send_message


@pytest.fixture
async def demo(spendpilot_server):
    return await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)


async def test_ack_comes_first_and_carries_the_client_id(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws.send(json.dumps({"type": "user_message", "id": "client-42", "data": {"content": "costs?"}}))
        first = await next_of(ws, {"ack", "agent_started", "error"})
        assert first["type"] == "ack"
        assert first["data"]["client_id"] == "client-42"
        assert first["data"]["run_id"].startswith("run_") and first["data"]["thread_id"].startswith("thr_")
        events = await collect_run(ws, first["data"]["run_id"])
        assert_run_well_formed(events, first["data"]["run_id"], first["data"]["thread_id"])
    finally:
        await ws.close()


async def test_resume_after_a_dropped_connection_delivers_exactly_the_missing_events(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    ack = await send_message(ws)
    run_id = ack["data"]["run_id"]
    seen = []
    while len(seen) < 3:
        frame = await recv_json(ws)
        if frame.get("run_id") == run_id:
            seen.append(frame)
    ws.transport.abort()  # the network drops: no close handshake

    ws2 = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws2.send(json.dumps({"type": "resume", "data": {"run_id": run_id, "after_seq": seen[-1]["seq"]}}))
        rest = await collect_run(ws2, run_id)
    finally:
        await ws2.close()
    assert_run_well_formed(seen + rest, run_id, ack["data"]["thread_id"])


async def test_resume_of_a_finished_run_replays_it_and_a_repeat_sends_nothing_twice(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        ack = await send_message(ws)
        run_id = ack["data"]["run_id"]
        live = await collect_run(ws, run_id)
        await ws.send(json.dumps({"type": "resume", "data": {"run_id": run_id, "after_seq": 0}}))
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": "after-resume"}}))
        # Already delivered on this connection: nothing is sent again, the pong comes next.
        frame = await next_of(ws, {"pong", *{e["type"] for e in live}})
        assert frame["type"] == "pong" and frame["data"]["nonce"] == "after-resume"
    finally:
        await ws.close()
    ws2 = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws2.send(json.dumps({"type": "resume", "data": {"run_id": run_id, "after_seq": 4}}))
        replay = await collect_run(ws2, run_id)
    finally:
        await ws2.close()
    assert replay == live[4:]


async def test_two_tabs_of_one_user_both_receive_the_run(spendpilot_server, demo):
    tab1 = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    tab2 = await open_socket(spendpilot_server.ws_url, demo["access_token"], carrier="subprotocol")
    try:
        ack = await send_message(tab1)
        run_id = ack["data"]["run_id"]
        events1, events2 = await asyncio.gather(collect_run(tab1, run_id), collect_run(tab2, run_id))
    finally:
        await tab1.close()
        await tab2.close()
    assert_run_well_formed(events1, run_id, ack["data"]["thread_id"])
    assert events2 == events1


async def test_two_users_see_nothing_of_each_other(spendpilot_server):
    alice, bob = await register(spendpilot_server.url), await register(spendpilot_server.url)
    ws_a = await open_socket(spendpilot_server.ws_url, alice["access_token"])
    ws_b = await open_socket(spendpilot_server.ws_url, bob["access_token"])
    try:
        ack_a, ack_b = await asyncio.gather(send_message(ws_a, "Analyze my AI costs"),
                                            send_message(ws_b, "Where does my money go?"))
        events_a, events_b = await asyncio.gather(collect_run(ws_a, ack_a["data"]["run_id"]),
                                                  collect_run(ws_b, ack_b["data"]["run_id"]))
        # Anything else either socket got in the meantime must not be the other's.
        await ws_a.send(json.dumps({"type": "ping", "data": {"nonce": "a"}}))
        await ws_b.send(json.dumps({"type": "ping", "data": {"nonce": "b"}}))
        extra_a = await _until_pong(ws_a)
        extra_b = await _until_pong(ws_b)
    finally:
        await ws_a.close()
        await ws_b.close()
    assert {e["run_id"] for e in events_a + extra_a if "run_id" in e} == {ack_a["data"]["run_id"]}
    assert {e["run_id"] for e in events_b + extra_b if "run_id" in e} == {ack_b["data"]["run_id"]}

    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {bob['access_token']}"}) as http:
        for path in (f"/api/threads/{ack_a['data']['thread_id']}",
                     f"/api/threads/{ack_a['data']['thread_id']}/messages",
                     f"/api/runs/{ack_a['data']['run_id']}",
                     f"/api/runs/{ack_a['data']['run_id']}/events"):
            response = await http.get(path)
            assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
        assert (await http.post(f"/api/runs/{ack_a['data']['run_id']}/cancel")).status_code == 404
        assert (await http.delete(f"/api/threads/{ack_a['data']['thread_id']}")).status_code == 404
        assert all(t["id"] != ack_a["data"]["thread_id"] for t in (await http.get("/api/threads")).json())
    # Bob cannot resume or continue Alice's run or thread over the socket either.
    ws_b = await open_socket(spendpilot_server.ws_url, bob["access_token"])
    try:
        await ws_b.send(json.dumps({"type": "resume", "data": {"run_id": ack_a["data"]["run_id"], "after_seq": 0}}))
        assert (await next_of(ws_b, {"error"}))["data"]["code"] == "not_found"
        await ws_b.send(json.dumps({"type": "user_message", "id": "x",
                                    "data": {"content": "hi", "thread_id": ack_a["data"]["thread_id"]}}))
        assert (await next_of(ws_b, {"error", "ack"}))["data"]["code"] == "not_found"
    finally:
        await ws_b.close()


async def _until_pong(ws) -> list[dict]:
    frames = []
    while (frame := await recv_json(ws))["type"] != "pong":
        frames.append(frame)
    return frames


async def test_cancel_ends_a_run_with_one_run_cancelled(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        first = await send_message(ws)
        # Queued behind the first run in the same thread, so the cancel always lands before it runs.
        second = await send_message(ws, "And the caching potential?", thread_id=first["data"]["thread_id"])
        await ws.send(json.dumps({"type": "cancel", "data": {"run_id": second["data"]["run_id"]}}))
        events = await collect_run(ws, second["data"]["run_id"])
    finally:
        await ws.close()
    assert [e["type"] for e in events] == ["run_cancelled"]
    assert events[0]["seq"] == 1 and events[0]["data"]["final"] is True
    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {demo['access_token']}"}) as http:
        run = (await http.get(f"/api/runs/{second['data']['run_id']}")).json()
    assert run["status"] == "cancelled"


async def test_cancel_alias_stops_a_running_run(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        ack = await send_message(ws)
        run_id = ack["data"]["run_id"]
        await next_of(ws, {"agent_started"})
        await ws.send(json.dumps({"type": "stop_agent", "payload": {"run_id": run_id}}))
        events = await collect_run(ws, run_id)
    finally:
        await ws.close()
    assert events[-1]["type"] in ("run_cancelled", "agent_completed")
    if events[-1]["type"] == "run_cancelled":
        assert not any(e["type"] == "agent_completed" and e["data"].get("final") for e in events)


async def test_a_second_message_in_a_thread_waits_for_the_first_run(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        first = await send_message(ws)
        second = await send_message(ws, "Which model is cheapest?", thread_id=first["data"]["thread_id"])
        order = []
        finals = 0
        while finals < 2:
            frame = await recv_json(ws)
            if "run_id" in frame:
                order.append(frame["run_id"])
                finals += is_final(frame["type"], frame["data"])
    finally:
        await ws.close()
    first_id, second_id = first["data"]["run_id"], second["data"]["run_id"]
    first_last = len(order) - 1 - order[::-1].index(first_id)
    assert order.index(second_id) > first_last, "second run started before first ended"


@pytest.mark.parametrize("raw, code", [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    (json.dumps({"type": "dance", "data": {}}), "unknown_type"),
    (json.dumps({"type": "user_message", "id": "c1", "data": {}}), "invalid_message"),
    (json.dumps({"type": "user_message", "data": {"content": "   "}}), "invalid_message"),
    (json.dumps({"type": "resume", "data": {"run_id": "run_x", "after_seq": -1}}), "invalid_message"),
    (json.dumps({"type": "cancel", "data": {}}), "invalid_message"),
    (json.dumps({"type": "user_message", "data": {"content": "x" * 70_000}}), "too_large"),
])
async def test_bad_frames_get_error_frames_and_the_socket_stays_open(spendpilot_server, demo, raw, code):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws.send(raw)
        error = await next_of(ws, {"error"})
        assert error["data"]["code"] == code
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": "still-there"}}))
        pong = await next_of(ws, {"pong"})
        assert pong["data"]["nonce"] == "still-there"
    finally:
        await ws.close()


async def test_binary_frames_and_error_client_ids(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws.send(b"\x00\x01")
        assert (await next_of(ws, {"error"}))["data"]["code"] == "invalid_json"
        await ws.send(json.dumps({"type": "user_message", "id": "mine", "data": {"text": ""}}))
        error = await next_of(ws, {"error"})
        assert error["data"] == {"code": "invalid_message", "message": error["data"]["message"], "client_id": "mine"}
    finally:
        await ws.close()


async def test_rate_limit_answers_with_error_frames(make_server):
    server = make_server(env={"SPENDPILOT_WS_MESSAGES_PER_MINUTE": "5", "SPENDPILOT_SEED_DEMO": "0"})
    session = await register(server.url)
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        for i in range(7):
            await ws.send(json.dumps({"type": "ping", "data": {"nonce": i}}))
        replies = [await next_of(ws, {"pong", "error"}) for _ in range(7)]
    finally:
        await ws.close()
    assert [r["type"] for r in replies] == ["pong"] * 5 + ["error"] * 2
    assert all(r["data"]["code"] == "rate_limited" for r in replies[5:])


async def test_legacy_aliases_start_runs(spendpilot_server, demo):
    ws = await open_socket(spendpilot_server.ws_url, demo["access_token"])
    try:
        await ws.send(json.dumps({"type": "chat", "id": "old", "payload": {"user_request": "Analyze my AI costs"}}))
        ack = await next_of(ws, {"ack", "error"})
        assert ack["type"] == "ack" and ack["data"]["client_id"] == "old"
        events = await collect_run(ws, ack["data"]["run_id"])
        assert events[-1]["type"] == "agent_completed"
    finally:
        await ws.close()


async def test_a_run_past_its_deadline_still_ends_with_one_final_error(make_server):
    server = make_server(env={"SPENDPILOT_RUN_DEADLINE_S": "0", "SPENDPILOT_SEED_DEMO": "0"})
    session = await register(server.url)
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        ack = await send_message(ws)
        events = await collect_run(ws, ack["data"]["run_id"])
    finally:
        await ws.close()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    final = events[-1]
    assert final["type"] == "agent_error" and final["data"]["final"] is True
    assert final["data"]["code"] == "deadline_exceeded"
    assert sum(is_final(e["type"], e["data"]) for e in events) == 1


async def test_runs_beyond_the_concurrency_cap_wait_their_turn(make_server):
    server = make_server(env={"SPENDPILOT_MAX_CONCURRENT_RUNS": "1", "SPENDPILOT_SEED_DEMO": "0"})
    session = await register(server.url)
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        first = await send_message(ws)
        second = await send_message(ws, "A separate question")  # another thread: only the cap orders them
        assert first["data"]["thread_id"] != second["data"]["thread_id"]
        order, finals = [], 0
        while finals < 2:
            frame = await recv_json(ws)
            if "run_id" in frame:
                order.append((frame["run_id"], frame["type"], frame["data"].get("final")))
                finals += is_final(frame["type"], frame["data"])
    finally:
        await ws.close()
    first_id, second_id = first["data"]["run_id"], second["data"]["run_id"]
    first_work = [i for i, (run, _, final) in enumerate(order) if run == first_id and not final]
    second_start = next(i for i, (run, _, _) in enumerate(order) if run == second_id)
    # The slot frees when the first pipeline returns; only its final event may follow the second's start.
    assert second_start > first_work[-1]
