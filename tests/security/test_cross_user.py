"""Cross-user access to every object type, over REST and the socket: always 404 or nothing, never the data."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest

from tests.security.conftest import bearer, new_user
from tests.support.client import collect_run, next_of, open_socket, recv_json, send_message

SECRET_TITLE = f"owner-only-{uuid.uuid4().hex}"
USAGE_CSV = ("ts,provider,model,feature,input_tokens,output_tokens\n"
             "2026-10-01T10:00:00Z,openai,gpt-4o,owner-feature,1000,200\n")


@pytest.fixture(scope="module")
async def owned(security_server):
    """An owner with a thread, a finished run, its messages and imported usage; and an intruder."""
    owner, intruder = await new_user(security_server.url), await new_user(security_server.url)
    async with httpx.AsyncClient(base_url=security_server.url, headers=bearer(owner["access_token"])) as http:
        imported = await http.post("/api/usage/import", files={"file": ("u.csv", USAGE_CSV.encode())})
        assert imported.json()["imported"] == 1
        thread = (await http.post("/api/threads", json={"title": SECRET_TITLE})).json()
    ws = await open_socket(security_server.ws_url, owner["access_token"])
    try:
        ack = await send_message(ws, f"{SECRET_TITLE}: analyze my costs", thread["id"])
        await collect_run(ws, ack["data"]["run_id"])
    finally:
        await ws.close()
    return {"owner": owner, "intruder": intruder, "thread": thread["id"], "run": ack["data"]["run_id"]}


def _requests(o: dict) -> list[tuple[str, str, dict]]:
    thread, run = o["thread"], o["run"]
    return [
        ("GET", f"/api/threads/{thread}", {}),
        ("PATCH", f"/api/threads/{thread}", {"json": {"title": "taken over"}}),
        ("GET", f"/api/threads/{thread}/messages", {}),
        ("POST", f"/api/threads/{thread}/runs", {"json": {"content": "run in someone else's thread"}}),
        ("GET", f"/api/runs/{run}", {}),
        ("POST", f"/api/runs/{run}/cancel", {}),
        ("GET", f"/api/runs/{run}/events", {}),
        ("GET", f"/api/runs/{run}/events", {"headers": {"Accept": "text/event-stream"}}),
        ("GET", f"/api/runs/{run}/events?after=0", {"headers": {"Accept": "text/event-stream", "Last-Event-ID": "0"}}),
        ("DELETE", f"/api/threads/{thread}", {}),
    ]


async def test_every_rest_route_answers_404_to_another_user(security_server, owned):
    async with httpx.AsyncClient(base_url=security_server.url, timeout=30) as http:
        for method, path, kwargs in _requests(owned):
            headers = {**bearer(owned["intruder"]["access_token"]), **kwargs.pop("headers", {})}
            response = await http.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 404, (method, path, response.status_code, response.text)
            assert response.json()["error"]["code"] == "not_found"
            assert SECRET_TITLE not in response.text and owned["run"] not in response.text
        listed = await http.get("/api/threads", headers=bearer(owned["intruder"]["access_token"]),
                                params={"q": SECRET_TITLE})
        assert listed.status_code == 200 and listed.json() == []
        summary = (await http.get("/api/usage/summary", headers=bearer(owned["intruder"]["access_token"]))).json()
        assert summary["total_requests"] == 0 and "owner-feature" not in json.dumps(summary)
        # The owner still has everything: the refusals changed nothing.
        own = bearer(owned["owner"]["access_token"])
        thread = (await http.get(f"/api/threads/{owned['thread']}", headers=own)).json()
        assert thread["title"] == SECRET_TITLE
        assert len((await http.get(f"/api/threads/{owned['thread']}/messages", headers=own)).json()) == 2
        assert (await http.get(f"/api/runs/{owned['run']}", headers=own)).json()["status"] == "completed"
        summary = (await http.get("/api/usage/summary", headers=own, params={"group_by": "feature"})).json()
        assert [g["key"] for g in summary["groups"]] == ["owner-feature"]


async def test_over_the_socket_another_users_objects_are_not_found_and_send_nothing(security_server, owned):
    ws = await open_socket(security_server.ws_url, owned["intruder"]["access_token"])
    try:
        frames = [
            {"type": "resume", "id": "r1", "data": {"run_id": owned["run"], "after_seq": 0}},
            {"type": "cancel", "id": "c1", "data": {"run_id": owned["run"]}},
            {"type": "stop_agent", "id": "c2", "payload": {"run_id": owned["run"]}},
            {"type": "user_message", "id": "u1", "data": {"content": "hello", "thread_id": owned["thread"]}},
            {"type": "chat", "id": "u2", "payload": {"text": "hello", "thread_id": owned["thread"]}},
        ]
        for frame in frames:
            await ws.send(json.dumps(frame))
            error = await next_of(ws, {"error", "ack"})
            assert error["type"] == "error", error
            assert error["data"]["code"] == "not_found"
            assert error["data"].get("client_id") in (None, frame["id"])  # optional in SPEC §4
        # Nothing of the owner's run arrives, even after the resume grace period.
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": "end"}}))
        await asyncio.sleep(1.5)
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": "end2"}}))
        while True:
            frame = await recv_json(ws, 10)
            assert frame.get("run_id") is None and SECRET_TITLE not in json.dumps(frame), frame
            if frame["type"] == "pong" and frame["data"]["nonce"] == "end2":
                break
    finally:
        await ws.close()


async def test_a_live_run_reaches_only_its_owners_sockets(security_server):
    owner, intruder = await new_user(security_server.url), await new_user(security_server.url)
    watcher = await open_socket(security_server.ws_url, intruder["access_token"])
    tab1 = await open_socket(security_server.ws_url, owner["access_token"])
    tab2 = await open_socket(security_server.ws_url, owner["access_token"], carrier="subprotocol")
    try:
        ack = await send_message(tab1, "Analyze my AI costs")
        run_id = ack["data"]["run_id"]
        seen1, seen2 = await asyncio.gather(collect_run(tab1, run_id), collect_run(tab2, run_id))
        assert [e["seq"] for e in seen1] == [e["seq"] for e in seen2] and seen1
        await watcher.send(json.dumps({"type": "ping", "data": {"nonce": "done"}}))
        while (frame := await recv_json(watcher, 10))["type"] != "pong":
            assert frame.get("run_id") is None, frame
    finally:
        for ws in (watcher, tab1, tab2):
            await ws.close()
