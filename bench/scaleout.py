"""Scale-out benchmark: N concurrent golden paths against two API instances and two workers.

Usage: .venv/bin/python bench/scaleout.py [--users 500] [--apis 2] [--workers 2]

Starts `spendpilot serve` processes on this machine's PostgreSQL (a fresh database) and Redis
(a fresh key prefix), puts a round-robin TCP proxy in front of the API instances (WebSocket
upgrades pass through untouched, as through a load balancer), runs `spendpilot bench` against
the proxy, then checks the stored event log: every run exactly one final event, seq 1..N.
Everything it started is stopped and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.cluster import (  # noqa: E402
    PG_ADMIN_DSN,
    REDIS_URL,
    Cluster,
    create_database,
    delete_redis_keys,
    drop_database,
    run_sync,
    signing_key_pem,
)
from tests.support.server import free_port  # noqa: E402

FINAL_SQL = """
SELECT
  (SELECT count(*) FROM runs) AS runs,
  (SELECT count(*) FROM runs WHERE status IN ('queued', 'running')) AS unfinished,
  (SELECT count(*) FROM runs r WHERE (
     SELECT count(*) FROM run_events e WHERE e.run_id = r.id AND (e.type = 'run_cancelled' OR
       (e.type IN ('agent_completed', 'agent_error') AND (e.frame::json -> 'data' ->> 'final') = 'true'))
   ) <> 1) AS runs_without_exactly_one_final,
  (SELECT count(*) FROM runs r WHERE r.last_seq <> (SELECT count(*) FROM run_events e WHERE e.run_id = r.id)
     OR r.last_seq <> (SELECT coalesce(max(seq), 0) FROM run_events e WHERE e.run_id = r.id)) AS runs_with_seq_gaps,
  (SELECT count(*) FROM run_events) AS events
"""


# The proxy ------------------------------------------------------------------------------------

async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _proxy(port: int, upstreams: list[int]) -> None:
    turn = itertools.count()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = upstreams[next(turn) % len(upstreams)]
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def proxy_main(port: int, upstreams: list[int]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_proxy(port, upstreams))


# The run --------------------------------------------------------------------------------------

async def _check_log(database_url: str) -> dict:
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        return dict(await conn.fetchrow(FINAL_SQL))
    finally:
        await conn.close()


def machine() -> str:
    cpus = os.cpu_count()
    try:
        mem_kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = "?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, {mem} RAM, load {load:.1f} at start"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-max-jobs", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, passed to spendpilot bench")
    parser.add_argument("--pg", default=PG_ADMIN_DSN, help="an existing database to create the bench database from")
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--json", dest="json_path", help="also write the combined result here")
    args = parser.parse_args()

    database_url = create_database(args.pg)
    prefix = f"spbench{uuid.uuid4().hex[:8]}"
    root = Path(tempfile.mkdtemp(prefix="sp-scaleout-"))
    env = {
        "SPENDPILOT_DATABASE_URL": database_url,
        "SPENDPILOT_REDIS_URL": args.redis,
        "SPENDPILOT_REDIS_PREFIX": prefix,
        "SPENDPILOT_SIGNING_KEY": signing_key_pem(),
        "SPENDPILOT_SEED_DEMO": "0",
        "SPENDPILOT_WORKER_MAX_JOBS": str(args.worker_max_jobs),
        # Deadline generous enough that queueing under load is measured, not cut off.
        "SPENDPILOT_RUN_DEADLINE_S": str(args.timeout),
        "SPENDPILOT_DB_POOL_SIZE": "8",
        "SPENDPILOT_DB_MAX_OVERFLOW": "8",
        "SPENDPILOT_MAX_SOCKETS_PER_USER": "20",
    }
    cluster = Cluster(root, database_url, args.redis, env=env)
    proxy = None
    started = time.time()
    host = machine()
    print(f"machine: {host}", file=sys.stderr)
    try:
        cluster.start(["api"] * args.apis + ["worker"] * args.workers)
        port = free_port()
        upstreams = [p.port for p in cluster.procs if p.role == "api"]
        proxy = subprocess.Popen([sys.executable, __file__, "proxy", str(port), *map(str, upstreams)])
        time.sleep(0.5)
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "spendpilot", "bench", url, "--users", str(args.users), "--json",
                   "--timeout", str(args.timeout)]
        print(f"running: spendpilot bench {url} --users {args.users} --json", file=sys.stderr)
        bench = subprocess.run(command, stdout=subprocess.PIPE, text=True)
        result = json.loads(bench.stdout)
        stored = run_sync(_check_log(database_url.replace("postgresql+asyncpg://", "postgresql://")))
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait()
        cluster.stop_all()
        drop_database(database_url, args.pg)
        delete_redis_keys(args.redis, prefix)

    combined = {"machine": host, "apis": args.apis, "workers": args.workers, "bench": result,
                "stored": stored, "seconds": round(time.time() - started, 1)}
    latency = result["latency_ms"]
    print(f"{args.users} users, {args.apis} API instances behind a TCP proxy, {args.workers} workers")
    print(f"runs: {result['runs']}")
    for stage in ("ack", "first_event", "final_event"):
        s = latency[stage]
        print(f"  {stage:12s} p50 {s['p50']} ms  p95 {s['p95']} ms  p99 {s['p99']} ms  max {s['max']} ms")
    print(f"events seen by clients: {result['events']}")
    print(f"errors: {result['errors'] or 'none'}")
    print(f"stored log: {stored}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(combined, indent=2) + "\n")
    clean = (result["passed"] and stored["runs"] == args.users and stored["unfinished"] == 0
             and stored["runs_without_exactly_one_final"] == 0 and stored["runs_with_seq_gaps"] == 0)
    print("PASSED" if clean else "FAILED")
    return 0 if clean else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "proxy":
        proxy_main(int(sys.argv[2]), [int(p) for p in sys.argv[3:]])
    else:
        sys.exit(main())
