"""Gateway overhead: the same streamed chat completions sent to a fake OpenAI upstream directly and through
`/gateway/openai/v1` at the same instant, at N streams open at once.

    .venv/bin/python bench/bench_gateway.py --streams 100 --rounds 10

So that the figure is the gateway's and not the bench's, `spendpilot up` is pinned to core 0 and the fake
upstream and the client share core 1 (os.sched_setaffinity; `--no-pin` turns it off). Both are raw asyncio, a
few microseconds per event: the upstream answers `/chat/completions` with `--chunks` SSE events, the first at
once and the rest `--chunk-delay` apart (a second in all by default, a short answer from a fast model), then
the usage chunk and `[DONE]`; the client speaks keep-alive HTTP/1.1, one connection per call in flight.
Calls arrive as a Poisson process at N / (stream length) a second, so N gateway streams are open on average
(printed); each arrival sends the same call directly and through the gateway at once, and the added
first-byte latency of a pair is the gateway call's minus the direct one's. Every gateway call's row is stored
before its last event is released, so "end" includes the store's group commit. The gateway process's CPU per
call (relay, metering, storing) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import RunningServer, free_port  # noqa: E402

BODY = orjson.dumps({"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
                     "messages": [{"role": "system", "content": "You are terse."},
                                  {"role": "user", "content": "Spend?"}]})
SERVER_CORE, CLIENT_CORE = 0, 1


# --- the fake upstream ------------------------------------------------------------------------------------------


def _event(doc: dict) -> bytes:
    data = b"data: " + orjson.dumps(doc) + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stream_events(chunks: int) -> list[bytes]:
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764200000,
            "model": "gpt-4o-mini-2024-07-18"}
    events = [_event({**base, "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]})
              for i in range(chunks)]
    events.append(_event({**base, "choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": chunks,
                                                            "total_tokens": 21 + chunks}}))
    done = b"data: [DONE]\n\n"
    events.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    return events


async def _serve_upstream(port: int, chunks: int, delay: float) -> None:
    events = _stream_events(chunks)
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
            b"cache-control: no-cache\r\n\r\n")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in headers.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                writer.write(head + events[0])
                for event in events[1:-1]:
                    await asyncio.sleep(delay)
                    writer.write(event)
                writer.write(events[-1])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


# --- the client -------------------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that posts the bench body and times a chunked answer."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]):
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = (f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
                        f"content-length: {len(BODY)}\r\n{extra}\r\n").encode() + BODY
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self) -> tuple[float, float]:
        """(seconds to the first body byte, seconds to the end of the answer)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        assert reader is not None
        started = time.perf_counter()
        self.writer.write(self.request)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            # The server closed this keep-alive connection while it sat idle (its keep-alive timeout): as HTTP
            # clients do, send again on a new connection; the request never reached the server.
            self.close()
            self.writer = None
            return await self.call()
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        first = 0.0
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size and not first:
                first = time.perf_counter() - started
            await reader.readexactly(size + 2)
            if not size:
                return first, time.perf_counter() - started

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Pool:
    """Idle keep-alive connections to one path; a call takes one or opens a new one, and gives it back."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str]):
        self.args = (host, port, path, headers)
        self.idle: list[Connection] = []

    async def call(self) -> tuple[float, float]:
        connection = self.idle.pop() if self.idle else Connection(*self.args)
        result = await connection.call()
        self.idle.append(connection)
        return result

    def close(self) -> None:
        for connection in self.idle:
            connection.close()


async def pair(direct: Pool, gateway: Pool, pairs: list[tuple[tuple[float, float], tuple[float, float]]]) -> None:
    """The same call both ways at the same instant."""
    plain, through = await asyncio.gather(direct.call(), gateway.call())
    pairs.append((plain, through))


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49] * 1000, q[98] * 1000


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(args, upstream_port: int, gateway_port: int, key: str, pid: int) -> None:
    direct = Pool("127.0.0.1", upstream_port, "/chat/completions", {"authorization": "Bearer sk-bench"})
    gateway = Pool("127.0.0.1", gateway_port, "/gateway/openai/v1/chat/completions",
                   {"authorization": "Bearer sk-bench", "x-spendpilot-key": key})
    await asyncio.gather(*[pair(direct, gateway, []) for _ in range(args.streams)])  # warm-up: the connections
    # Calls arrive as independent callers make them (a Poisson process), at the rate that keeps `streams` of
    # them open at once: N / the stream's length. Callers that waited for each other's answers would start
    # in step after every group commit, a burst the service's real callers never make.
    length = args.chunks * args.chunk_delay
    rate, total, rng = args.streams / length, args.streams * args.rounds, random.Random(7)
    pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
    tasks: list[asyncio.Task] = []
    started, server_cpu, client_cpu = time.perf_counter(), process_cpu_s(pid), time.process_time()
    due = started
    for _ in range(total):
        due += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(pair(direct, gateway, pairs)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    server_cpu = process_cpu_s(pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    direct.close()
    gateway.close()
    calls = len(pairs)
    open_streams = sum(p[1][1] for p in pairs) / elapsed
    print(f"{calls} pairs (direct + gateway at once) in {elapsed:.1f} s, {calls / elapsed:.0f} a second: "
          f"{open_streams:.0f} gateway streams open on average (aim {args.streams}); load {os.getloadavg()[0]:.1f}")
    for name, index in (("direct", 0), ("gateway", 1)):
        first = percentiles([p[index][0] for p in pairs])
        end = percentiles([p[index][1] for p in pairs])
        print(f"{name:8} first byte p50 {first[0]:7.2f} ms p99 {first[1]:7.2f} ms | "
              f"end p50 {end[0]:7.2f} ms p99 {end[1]:7.2f} ms")
    added_first = percentiles([g[0] - d[0] for d, g in pairs])
    added_end = percentiles([g[1] - d[1] for d, g in pairs])
    print(f"added    first byte p50 {added_first[0]:7.2f} ms p99 {added_first[1]:7.2f} ms | "
          f"end p50 {added_end[0]:7.2f} ms p99 {added_end[1]:7.2f} ms   (per pair, gateway minus direct)")
    # What the gateway costs whatever the machine's load: its process CPU (relay, metering, storing) per call.
    print(f"gateway process CPU {server_cpu:.1f} s = {server_cpu / max(calls, 1) * 1000:.2f} ms per call "
          f"(on {server_cpu / elapsed:.2f} cores); client CPU {client_cpu / max(calls, 1) * 1000:.2f} ms per pair")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10, help="calls per stream slot: streams x rounds pairs")
    parser.add_argument("--chunks", type=int, default=20, help="content events per stream")
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds between events")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place the processes")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        asyncio.run(_serve_upstream(args.serve_upstream, args.chunks, args.chunk_delay))
        return
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}; pinned: " + ("server on core 0, upstream + client on core 1" if pin
                                                         else "no"))
    upstream_port = free_port()
    server = upstream = None
    try:
        if pin:
            os.sched_setaffinity(0, {SERVER_CORE})  # the server and all its threads inherit this
        env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_GATEWAY_OPENAI_URL": f"http://127.0.0.1:{upstream_port}"}
        server = RunningServer(Path(tempfile.mkdtemp(prefix="spendpilot-bench-gateway-")), free_port(),
                               env=env).start()
        if pin:
            os.sched_setaffinity(0, {CLIENT_CORE})
        upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(upstream_port),
                                     "--chunks", str(args.chunks), "--chunk-delay", str(args.chunk_delay)],
                                    stdout=subprocess.PIPE, text=True)
        upstream.stdout.readline()  # type: ignore[union-attr]
        token = httpx.post(f"{server.url}/auth/register", json={"email": "bench@example.com",
                                                                "password": "bench-password-1"}).json()["access_token"]
        key = httpx.post(f"{server.url}/api/keys", json={"name": "bench", "scopes": ["ingest"]},
                         headers={"Authorization": f"Bearer {token}"}).json()["key"]
        asyncio.run(run(args, upstream_port, server.port, key, server.process.pid))  # type: ignore[union-attr]
        summary = httpx.get(f"{server.url}/api/usage/summary", headers={"Authorization": f"Bearer {token}"}).json()
        print(f"rows stored for gateway calls: {summary['total_requests']:,} "
              f"(expected {args.streams * (args.rounds + 1):,})")
    finally:
        if server is not None:
            server.stop()
        if upstream is not None:
            upstream.terminate()
            upstream.wait()


if __name__ == "__main__":
    main()
