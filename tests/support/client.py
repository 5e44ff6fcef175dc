"""Small real clients for tests: HTTP auth and a spendpilot.v1 WebSocket session."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from websockets.asyncio.client import ClientConnection, connect

from spendpilot.realtime.handshake import jwt_subprotocol
from spendpilot.runs.events import is_final


async def login(url: str, email: str, password: str) -> dict:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/auth/login", json={"email": email, "password": password})
        response.raise_for_status()
        return response.json()


async def register(url: str, email: str | None = None, password: str = "correct-horse-battery") -> dict:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post("/auth/register", json={"email": email, "password": password})
        response.raise_for_status()
        return response.json()


async def open_socket(ws_url: str, token: str, carrier: str = "header",
                      offer_protocol: bool = True) -> ClientConnection:
    protocols = ["spendpilot.v1"] if offer_protocol else []
    headers = {}
    if carrier == "header":
        headers["Authorization"] = f"Bearer {token}"
    else:
        protocols.append(jwt_subprotocol(token))
    ws = await connect(ws_url, additional_headers=headers, subprotocols=protocols or None,
                       max_size=2**21, open_timeout=10)
    ready = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ready["type"] == "connection_ready", ready
    return ws


async def recv_json(ws: ClientConnection, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def next_of(ws: ClientConnection, types: set[str], timeout: float = 10.0) -> dict:
    """The next frame of one of `types`, skipping heartbeats and other connection frames."""
    while True:
        frame = await recv_json(ws, timeout)
        if frame["type"] in types:
            return frame


async def send_message(ws: ClientConnection, content: str = "Analyze my AI costs",
                       thread_id: str | None = None) -> dict:
    """Send a user_message and return its ack."""
    client_id = uuid.uuid4().hex
    data = {"content": content}
    if thread_id:
        data["thread_id"] = thread_id
    await ws.send(json.dumps({"type": "user_message", "id": client_id, "data": data}))
    ack = await next_of(ws, {"ack", "error"})
    assert ack["type"] == "ack", ack
    assert ack["data"]["client_id"] == client_id
    return ack


async def collect_run(ws: ClientConnection, run_id: str, timeout: float = 60.0) -> list[dict]:
    """Every event of `run_id` this socket receives, up to and including the final one."""
    events = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        frame = await recv_json(ws, max(0.1, deadline - asyncio.get_running_loop().time()))
        if frame.get("run_id") != run_id:
            continue
        events.append(frame)
        if is_final(frame["type"], frame["data"]):
            return events


async def burst(ws_url: str, token: str, count: int, timeout: float = 30.0) -> list[dict]:
    """Send `count` messages at once on one socket, each starting its own thread (client ids c0, c1, ...), and
    return every frame received until all of their runs have ended."""
    ws = await open_socket(ws_url, token)
    frames: list[dict] = []
    try:
        for n in range(count):
            await ws.send(json.dumps({"type": "user_message", "id": f"c{n}", "data": {"content": f"costs {n}?"}}))
        finals = 0
        while finals < count:
            frame = await recv_json(ws, timeout)
            frames.append(frame)
            finals += "seq" in frame and is_final(frame["type"], frame["data"])
    finally:
        await ws.close()
    return frames
