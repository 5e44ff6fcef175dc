"""The golden path against a real server: sign in, chat over the socket, live events, persisted report."""

from __future__ import annotations

import json

import httpx

from tests.e2e.checks import assert_report_consistent, assert_run_well_formed
from tests.support.client import collect_run, login, open_socket, send_message


async def test_golden_path_streams_every_agent_and_persists_the_report(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    token = session["access_token"]
    ws = await open_socket(spendpilot_server.ws_url, token)
    try:
        ack = await send_message(ws, "Analyze my AI costs")
        run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
        events = await collect_run(ws, run_id)
    finally:
        await ws.close()

    assert_run_well_formed(events, run_id, thread_id)
    started = [e["data"]["agent"] for e in events if e["type"] == "agent_started"]
    assert started == ["supervisor", "triage", "data", "optimization", "report"]
    tools = [e for e in events if e["type"] == "tool_completed"]
    assert tools and all(t["data"]["ok"] for t in tools)
    assert any(e["type"] == "partial_result" for e in events)
    final = events[-1]
    assert final["type"] == "agent_completed" and final["data"]["final"] is True
    report = final["data"]["report"]
    assert_report_consistent(report)
    assert report["data_sufficiency"] == "sufficient"
    assert len(report["recommendations"]) >= 3, "the demo data has planted waste"
    assert final["data"]["final_response"].startswith("## ")

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=spendpilot_server.url, headers=headers) as http:
        # Every figure comes from a query: the report's total equals the usage summary for its period.
        period = report["period"]
        summary = (await http.get("/api/usage/summary", params={"from": period["from"], "to": period["to"]})).json()
        assert summary["total_usd"] == report["spend"]["total_usd"]
        messages = (await http.get(f"/api/threads/{thread_id}/messages")).json()
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[0]["content"] == "Analyze my AI costs" and messages[0]["run_id"] == run_id
        assert messages[1]["report"] == report
        assert messages[1]["content"] == final["data"]["final_response"]
        stored = (await http.get(f"/api/runs/{run_id}/events")).json()
        assert stored == events
        run = (await http.get(f"/api/runs/{run_id}")).json()
        assert run["status"] == "completed" and run["last_seq"] == len(events)


async def test_a_new_account_without_usage_gets_import_guidance_not_numbers(spendpilot_server):
    from tests.support.client import register

    session = await register(spendpilot_server.url)
    ws = await open_socket(spendpilot_server.ws_url, session["access_token"], carrier="subprotocol")
    try:
        ack = await send_message(ws, "Analyze my AI costs")
        events = await collect_run(ws, ack["data"]["run_id"])
    finally:
        await ws.close()
    assert_run_well_formed(events, ack["data"]["run_id"], ack["data"]["thread_id"])
    report = events[-1]["data"]["report"]
    assert report["data_sufficiency"] == "insufficient"
    assert report["recommendations"] == [] and report["spend"]["total_usd"] == 0
    assert "import" in events[-1]["data"]["final_response"].lower()


async def test_rest_run_and_sse_stream_match_the_socket_contract(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(base_url=spendpilot_server.url, headers=headers, timeout=30) as http:
        thread = (await http.post("/api/threads", json={"title": "via REST"})).json()
        started = await http.post(f"/api/threads/{thread['id']}/runs", json={"content": "Where can I save?"})
        assert started.status_code == 202
        run_id = started.json()["run_id"]
        frames = []
        async with http.stream("GET", f"/api/runs/{run_id}/events",
                               headers={"Accept": "text/event-stream"}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    frames.append(json.loads(line[6:]))
        assert_run_well_formed(frames, run_id, thread["id"])
        resumed = []
        async with http.stream("GET", f"/api/runs/{run_id}/events",
                               headers={"Accept": "text/event-stream", "Last-Event-ID": "5"}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("id: "):
                    resumed.append(int(line[4:]))
        assert resumed == list(range(6, len(frames) + 1))
