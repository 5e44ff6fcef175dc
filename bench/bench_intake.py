"""Live intake throughput: OTLP/HTTP protobuf exports into `spendpilot up`, every span acknowledged only once stored.

    .venv/bin/python bench/bench_intake.py --seconds 30 --spans 500 --senders 8

Starts `spendpilot up` (no demo data) on a fresh data dir, signs up, creates an ingest key, then `--senders`
concurrent clients post exports of `--spans` GenAI spans (fresh ids each, so nothing is a duplicate) for
`--seconds`. Prints acknowledged spans/s and export latency, then checks the summary holds exactly the
acknowledged spans.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import RunningServer, free_port  # noqa: E402

MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001")


def attr(key: str, value: str | int) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value) if isinstance(value, str)
                    else AnyValue(int_value=value))


def template(spans: int) -> ExportTraceServiceRequest:
    """An export as an instrumented service sends it: GenAI chat spans with the usual attributes."""
    now = time.time_ns()
    calls = []
    for i in range(spans):
        model = MODELS[i % len(MODELS)]
        calls.append(Span(span_id=(i + 1).to_bytes(8, "big"), name=f"chat {model}", kind=Span.SPAN_KIND_CLIENT,
                          start_time_unix_nano=now + i * 1000, end_time_unix_nano=now + i * 1000 + 850_000_000,
                          attributes=[attr("gen_ai.operation.name", "chat"),
                                      attr("gen_ai.provider.name", "anthropic" if "claude" in model else "openai"),
                                      attr("gen_ai.request.model", model), attr("gen_ai.response.model", model),
                                      attr("gen_ai.usage.input_tokens", 1200 + i % 700),
                                      attr("gen_ai.usage.output_tokens", 80 + i % 300),
                                      attr("gen_ai.usage.cache_read.input_tokens", 512),
                                      attr("gen_ai.request.max_tokens", 1024), attr("server.address", "api.example"),
                                      attr("server.port", 443), attr("gen_ai.response.id", f"resp-{i}"),
                                      attr("enduser.id", f"user-{i % 50}"), attr("spendpilot.tag.team", "search")]))
    resource = Resource(attributes=[attr("service.name", "bench-service"), attr("telemetry.sdk.name", "opentelemetry")])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource,
                                                                   scope_spans=[ScopeSpans(spans=calls)])])


def exports(spans: int):
    """Serialized exports, each with its own trace id (so every span is new)."""
    request = template(spans)
    calls = request.resource_spans[0].scope_spans[0].spans
    number = 0
    while True:
        number += 1
        trace_id = os.urandom(8) + number.to_bytes(8, "big")
        for span in calls:
            span.trace_id = trace_id
        yield request.SerializeToString()


async def sender(url: str, key: str, spans: int, until: float, latencies: list[float], refused: list[int]) -> int:
    acknowledged = 0
    source = exports(spans)
    headers = {"content-type": "application/x-protobuf", "x-spendpilot-key": key}
    async with httpx.AsyncClient(timeout=60) as client:
        while time.perf_counter() < until:
            body = next(source)
            started = time.perf_counter()
            answer = await client.post(f"{url}/v1/traces", content=body, headers=headers)
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - started)
                acknowledged += spans
            else:
                refused.append(answer.status_code)
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
    return acknowledged


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (chDB's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, key: str, token: str, args, pid: int) -> None:
    latencies: list[float] = []
    refused: list[int] = []
    # Warm-up: connections, the store's first parts.
    await sender(url, key, args.spans, time.perf_counter() + 2, [], [])
    before = httpx.get(f"{url}/api/usage/summary", headers={"Authorization": f"Bearer {token}"}).json()
    started, cpu, server_cpu = time.perf_counter(), time.process_time(), process_cpu_s(pid)
    until = started + args.seconds
    counts = await asyncio.gather(*[sender(url, key, args.spans, until, latencies, refused)
                                    for _ in range(args.senders)])
    elapsed = time.perf_counter() - started
    server_cpu = process_cpu_s(pid) - server_cpu
    total = sum(counts)
    after = httpx.get(f"{url}/api/usage/summary", headers={"Authorization": f"Bearer {token}"}).json()
    stored = after["total_requests"] - before["total_requests"]
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"exports of {args.spans} spans, {args.senders} senders, {elapsed:.1f} s: "
          f"{total:,} spans acknowledged = {total / elapsed:,.0f} spans/s "
          f"({len(latencies) / elapsed:,.1f} exports/s)")
    print(f"export latency p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms; "
          f"refused {len(refused)} ({', '.join(sorted({str(s) for s in refused})) or 'none'}); "
          f"client CPU {time.process_time() - cpu:.1f} s")
    # On a machine shared with other work, wall-clock throughput says little; CPU per span says what a core buys.
    print(f"server CPU {server_cpu:.1f} s = {server_cpu / max(total, 1) * 1e6:.0f} us per span -> "
          f"{total / max(server_cpu, 1e-9):,.0f} spans per CPU-second (server on {server_cpu / elapsed:.2f} cores)")
    print(f"stored in the summary: {stored:,} spans (acknowledged {total:,}) -> "
          f"{'OK' if stored == total else 'MISMATCH'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--spans", type=int, default=500, help="spans per export (OTel SDKs send up to 512)")
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}")
    server = RunningServer(Path(tempfile.mkdtemp(prefix="spendpilot-bench-intake-")), free_port(),
                           env={"SPENDPILOT_SEED_DEMO": "0"}).start()
    try:
        body = httpx.post(f"{server.url}/auth/register", json={"email": "bench@example.com",
                                                               "password": "bench-password-1"}).json()
        token = body["access_token"]
        key = httpx.post(f"{server.url}/api/keys", json={"name": "bench", "scopes": ["ingest"]},
                         headers={"Authorization": f"Bearer {token}"}).json()["key"]
        asyncio.run(run(server.url, key, token, args, server.process.pid))  # type: ignore[union-attr]
    finally:
        server.stop()


if __name__ == "__main__":
    main()
