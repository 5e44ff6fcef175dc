"""What was acknowledged survives a restart; a run cut off by a crash still gets its final event."""

from __future__ import annotations

import json
import signal

import httpx

from tests.e2e.checks import assert_run_well_formed
from tests.support.client import collect_run, login, open_socket, recv_json, send_message


async def test_threads_reports_and_accounts_survive_a_restart(make_server, tmp_path):
    server = make_server(data_dir=tmp_path / "data")
    session = await login(server.url, server.demo_email, server.demo_password)
    ws = await open_socket(server.ws_url, session["access_token"])
    ack = await send_message(ws)
    events = await collect_run(ws, ack["data"]["run_id"])
    await ws.close()
    server.stop()
    server.start()

    # The old access token still verifies: the signing key lives in the data dir.
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
        messages = (await http.get(f"/api/threads/{ack['data']['thread_id']}/messages")).json()
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["report"] == events[-1]["data"]["report"]
        assert (await http.get(f"/api/runs/{ack['data']['run_id']}/events")).json() == events
        summary = (await http.get("/api/usage/summary")).json()
        assert summary["total_requests"] > 0
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        await ws.send(json.dumps({"type": "resume", "data": {"run_id": ack["data"]["run_id"], "after_seq": 0}}))
        assert await collect_run(ws, ack["data"]["run_id"]) == events
    finally:
        await ws.close()


async def test_a_run_interrupted_by_a_crash_ends_with_one_final_event_after_restart(make_server, tmp_path):
    server = make_server(data_dir=tmp_path / "data")
    session = await login(server.url, server.demo_email, server.demo_password)
    ws = await open_socket(server.ws_url, session["access_token"])
    ack = await send_message(ws)
    run_id = ack["data"]["run_id"]
    seen = [await recv_json(ws)]
    server.stop(signal.SIGKILL)
    server.start()
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        await ws.send(json.dumps({"type": "resume", "data": {"run_id": run_id, "after_seq": 0}}))
        events = await collect_run(ws, run_id)
    finally:
        await ws.close()
    assert_run_well_formed(events, run_id, ack["data"]["thread_id"])
    assert events[0]["seq"] == seen[0]["seq"] == 1
    final = events[-1]
    assert final["type"] in ("agent_error", "agent_completed")
    if final["type"] == "agent_error":
        assert final["data"]["code"] == "interrupted" and final["data"]["final"] is True


async def test_stopping_the_server_closes_sockets_with_going_away(make_server):
    from tests.support.client import register

    server = make_server(env={"SPENDPILOT_SEED_DEMO": "0"})
    session = await register(server.url)
    ws = await open_socket(server.ws_url, session["access_token"])
    server.process.send_signal(signal.SIGTERM)
    await ws.wait_closed()
    assert ws.close_code == 1001  # clients resume elsewhere; 1012 or 1006 would read as a failure
