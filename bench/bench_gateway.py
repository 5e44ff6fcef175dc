"""Gateway overhead: the same streamed chat completions sent to the fake OpenAI upstream directly and through
`/gateway/openai/v1`, interleaved in one run at N concurrent streams.

    .venv/bin/python bench/bench_gateway.py --streams 100 --rounds 10

The fake upstream (tests/support/fake_providers.py) runs in its own process and streams ~20 chunks 5 ms apart,
as a model streams tokens; `spendpilot up` (no demo data) runs the gateway. Each of the N workers alternates
direct and gateway calls. Time to first byte and to the end of the stream are measured per call; the added
latency is the gateway's percentile minus the direct one. Every gateway call's row is stored before its last
event is released, so "end" includes the store's group commit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import RunningServer, free_port  # noqa: E402

FAKE = """
import sys, time
from tests.support.fake_providers import FakeProviders
fake = FakeProviders.start(chunk_delay_s=float(sys.argv[1]))
print(fake.openai_url, flush=True)
while True:
    time.sleep(3600)
"""
BODY = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Spend?"}]}


async def one_call(client: httpx.AsyncClient, url: str, headers: dict) -> tuple[float, float]:
    started = time.perf_counter()
    first = 0.0
    async with client.stream("POST", url, json=BODY, headers=headers) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if not first and chunk:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


async def worker(client, targets, rounds: int, results: dict[str, list[tuple[float, float]]], offset: int) -> None:
    for i in range(rounds * 2):
        name, url, headers = targets[(i + offset) % 2]
        results[name].append(await one_call(client, url, headers))


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49] * 1000, q[98] * 1000


async def run(args, upstream: str, gateway: str, key: str) -> None:
    targets = [("direct", f"{upstream}/chat/completions", {"authorization": "Bearer sk-bench"}),
               ("gateway", f"{gateway}/chat/completions", {"authorization": "Bearer sk-bench",
                                                           "x-spendpilot-key": key})]
    limits = httpx.Limits(max_connections=args.streams * 2, max_keepalive_connections=args.streams * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await worker(client, targets, 3, {"direct": [], "gateway": []}, 0)  # warm-up
        results: dict[str, list[tuple[float, float]]] = {"direct": [], "gateway": []}
        started = time.perf_counter()
        await asyncio.gather(*[worker(client, targets, args.rounds, results, n) for n in range(args.streams)])
        elapsed = time.perf_counter() - started
    print(f"{args.streams} concurrent streams, {len(results['direct'])} direct + {len(results['gateway'])} gateway "
          f"calls in {elapsed:.1f} s")
    rows = {}
    for name in ("direct", "gateway"):
        first = percentiles([r[0] for r in results[name]])
        end = percentiles([r[1] for r in results[name]])
        rows[name] = (first, end)
        print(f"{name:8} first byte p50 {first[0]:7.2f} ms p99 {first[1]:7.2f} ms | "
              f"end p50 {end[0]:7.2f} ms p99 {end[1]:7.2f} ms")
    (df, de), (gf, ge) = rows["direct"], rows["gateway"]
    print(f"added    first byte p50 {gf[0] - df[0]:7.2f} ms p99 {gf[1] - df[1]:7.2f} ms | "
          f"end p50 {ge[0] - de[0]:7.2f} ms p99 {ge[1] - de[1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10, help="calls per worker and path")
    parser.add_argument("--chunk-delay", type=float, default=0.005)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    fake = subprocess.Popen([sys.executable, "-c", FAKE, str(args.chunk_delay)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    server = None
    try:
        upstream = fake.stdout.readline().strip()  # type: ignore[union-attr]
        env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_GATEWAY_OPENAI_URL": upstream}
        server = RunningServer(Path(tempfile.mkdtemp(prefix="spendpilot-bench-gateway-")), free_port(),
                               env=env).start()
        token = httpx.post(f"{server.url}/auth/register", json={"email": "bench@example.com",
                                                                "password": "bench-password-1"}).json()["access_token"]
        key = httpx.post(f"{server.url}/api/keys", json={"name": "bench", "scopes": ["ingest"]},
                         headers={"Authorization": f"Bearer {token}"}).json()["key"]
        asyncio.run(run(args, upstream, f"{server.url}/gateway/openai/v1", key))
        summary = httpx.get(f"{server.url}/api/usage/summary", headers={"Authorization": f"Bearer {token}"}).json()
        print(f"rows stored for gateway calls: {summary['total_requests']:,}")
    finally:
        if server is not None:
            server.stop()
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
