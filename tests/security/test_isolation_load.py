"""Isolation under load: 200 users run the golden path at once over real sockets; none ever receives
another's event, thread or report."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from spendpilot.runs.events import is_final
from tests.security.conftest import bearer
from tests.support.client import open_socket, recv_json

USERS = 200
REGISTER_AT_ONCE = 16  # password hashing is deliberately slow; the runs themselves all go at once


async def _register(http: httpx.AsyncClient, gate: asyncio.Semaphore, n: int) -> dict:
    async with gate:
        # A connection per request: under load an idle keep-alive connection can be closed by the
        # server just as the client reuses it, which says nothing about isolation.
        response = await http.post("/auth/register", json={"email": f"load-{n}-{uuid.uuid4().hex[:8]}@example.com",
                                                           "password": "correct-horse-battery"},
                                   headers={"Connection": "close"})
    response.raise_for_status()
    return response.json()


class Barrier:
    """Every socket is open before the first message is sent, so each run is broadcast among 200 sockets."""

    def __init__(self, parties: int):
        self.parties, self.arrived, self.event = parties, 0, asyncio.Event()

    async def wait(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.event.set()
        await asyncio.wait_for(self.event.wait(), 180)


async def _golden_path(server, session: dict, marker: str, barrier: Barrier) -> dict:
    """One user: socket, message, every frame until the final event, then REST. Returns what it saw."""
    me = session["user"]["id"]
    ws = await open_socket(server.ws_url, session["access_token"])
    frames: list[dict] = []
    try:
        await barrier.wait()
        client_id = uuid.uuid4().hex
        await ws.send(json.dumps({"type": "user_message", "id": client_id,
                                  "data": {"content": f"Analyze my AI costs {marker}"}}))
        ack = None
        while True:
            frame = await recv_json(ws, 180)
            frames.append(frame)
            if frame["type"] == "ack":
                assert frame["data"]["client_id"] == client_id
                ack = frame["data"]
            if ack and frame.get("run_id") == ack["run_id"] and is_final(frame["type"], frame["data"]):
                break
        # Anything still in flight for this socket arrives before the answer to a ping.
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": marker}}))
        while (frame := await recv_json(ws, 60))["type"] != "pong":
            frames.append(frame)
    finally:
        await ws.close()
    # New connection per request (see _register): these GETs must not race a keep-alive close.
    headers = {**bearer(session["access_token"]), "Connection": "close"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        threads = (await http.get("/api/threads")).json()
        messages = (await http.get(f"/api/threads/{ack['thread_id']}/messages")).json()
        run = (await http.get(f"/api/runs/{ack['run_id']}/events")).json()
    return {"user": me, "ack": ack, "frames": frames, "threads": threads, "messages": messages, "events": run}


async def test_200_concurrent_users_each_see_only_their_own_run(security_server):
    async with httpx.AsyncClient(base_url=security_server.url, timeout=120,
                                 limits=httpx.Limits(max_connections=REGISTER_AT_ONCE)) as http:
        gate = asyncio.Semaphore(REGISTER_AT_ONCE)
        sessions = await asyncio.gather(*(_register(http, gate, n) for n in range(USERS)))
    markers = [f"[marker-{n}-{uuid.uuid4().hex}]" for n in range(USERS)]
    barrier = Barrier(USERS)
    results = await asyncio.gather(
        *(_golden_path(security_server, s, m, barrier) for s, m in zip(sessions, markers, strict=True))
    )

    run_ids = {r["ack"]["run_id"] for r in results}
    thread_ids = {r["ack"]["thread_id"] for r in results}
    assert len(run_ids) == USERS and len(thread_ids) == USERS
    for result, marker in zip(results, markers, strict=True):
        own_run, own_thread = result["ack"]["run_id"], result["ack"]["thread_id"]
        others = [m for m in markers if m != marker]
        seqs = []
        for frame in result["frames"]:
            if "run_id" in frame or "thread_id" in frame:
                assert frame["run_id"] == own_run and frame["thread_id"] == own_thread, \
                    f"{result['user']} received {frame['type']} of {frame.get('run_id')}"
                seqs.append(frame["seq"])
            elif frame["type"] == "ack":
                assert frame["data"]["run_id"] == own_run
        assert seqs == list(range(1, len(seqs) + 1)), "every event of its own run, in order, once"
        final = [f for f in result["frames"] if f.get("run_id") == own_run and is_final(f["type"], f["data"])]
        assert len(final) == 1 and final[0]["type"] == "agent_completed", final
        # REST agrees: one thread, this user's message and report only, the same events.
        assert [t["id"] for t in result["threads"]] == [own_thread]
        text = json.dumps(result["messages"])
        assert marker in text and not any(m in text for m in others)
        assert [m["role"] for m in result["messages"]] == ["user", "assistant"]
        assert all(m["run_id"] == own_run for m in result["messages"])
        assert [e["seq"] for e in result["events"]] == seqs and {e["run_id"] for e in result["events"]} == {own_run}
