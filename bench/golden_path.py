"""Time the golden path for one user: ack, first event and final event over N runs.

Usage: .venv/bin/python bench/golden_path.py [--runs 50] [--url URL]
Without --url it starts `spendpilot up` on a fresh data dir (demo data) and stops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spendpilot.runs.events import is_final  # noqa: E402
from tests.support.client import login, open_socket  # noqa: E402
from tests.support.server import DEMO_EMAIL, DEMO_PASSWORD, RunningServer, free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def one_run(ws) -> tuple[float, float, float, int]:
    client_id = uuid.uuid4().hex
    sent = time.perf_counter()
    await ws.send(json.dumps({"type": "user_message", "id": client_id, "data": {"content": "Analyze my AI costs"}}))
    ack_at = first_at = None
    run_id = None
    count = 0
    while True:
        frame = json.loads(await ws.recv())
        now = time.perf_counter()
        if frame["type"] == "ack" and frame["data"]["client_id"] == client_id:
            ack_at, run_id = now, frame["data"]["run_id"]
        elif frame.get("run_id") == run_id:
            count += 1
            first_at = first_at or now
            if is_final(frame["type"], frame["data"]):
                return (ack_at - sent) * 1000, (first_at - sent) * 1000, (now - sent) * 1000, count


async def main(url: str, ws_url: str, runs: int) -> None:
    session = await login(url, DEMO_EMAIL, DEMO_PASSWORD)
    ws = await open_socket(ws_url, session["access_token"])
    for _ in range(3):  # warm-up: connection pools, chDB caches
        await one_run(ws)
    results = [await one_run(ws) for _ in range(runs)]
    await ws.close()
    print(f"golden path, one user, {runs} runs, {results[0][3]} events per run")
    for i, name in enumerate(("ack", "first event", "final event")):
        values = [r[i] for r in results]
        print(f"  {name:12s} p50 {statistics.median(values):7.1f} ms   p95 {pct(values, 0.95):7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.url:
        asyncio.run(main(args.url, args.url.replace("http", "ws", 1) + "/ws", args.runs))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            server = RunningServer(Path(tmp), free_port()).start()
            try:
                asyncio.run(main(server.url, server.ws_url, args.runs))
            finally:
                server.stop()
