"""What the integration tests check on the frames a client received, and small REST helpers."""

from __future__ import annotations

import asyncio
import json

import httpx

from spendpilot.runs.events import is_final
from tests.support.client import recv_json


def assert_ends_once(events: list[dict], run_id: str) -> dict:
    """seq 1..N without gap or repeat, exactly one final event and it is last; returns it."""
    assert events, "no events"
    assert all(e["run_id"] == run_id for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), [e["seq"] for e in events]
    finals = [e for e in events if is_final(e["type"], e["data"])]
    assert len(finals) == 1, f"{len(finals)} final events"
    assert finals[0] is events[-1], "final event is not last"
    return finals[0]


async def run_events(ws, run_id: str, count: int, timeout: float = 30.0) -> list[dict]:
    """The next `count` events of run_id on this socket."""
    events = []
    while len(events) < count:
        frame = await recv_json(ws, timeout)
        if frame.get("run_id") == run_id:
            events.append(frame)
    return events


async def until_pong(ws, nonce: str = "sync") -> list[dict]:
    """Everything the socket receives before the answer to a ping sent now."""
    await ws.send(json.dumps({"type": "ping", "data": {"nonce": nonce}}))
    frames = []
    while True:
        frame = await recv_json(ws, 10)
        if frame["type"] == "pong" and frame["data"].get("nonce") == nonce:
            return frames
        frames.append(frame)


async def stored_events(url: str, token: str, run_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        response = await http.get(f"/api/runs/{run_id}/events")
        response.raise_for_status()
        return response.json()


async def eventually(probe, timeout: float = 30.0, every: float = 0.2):
    """Poll `probe()` until it returns something truthy; returns that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value {value!r})")
        await asyncio.sleep(every)
