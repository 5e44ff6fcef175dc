"""What a rate-limit check costs: in-process windows against the shared Redis windows.

Every socket frame and every sign-in takes one `hit`. Prints, for each implementation, the
latency of one hit (sequential) and the throughput with many callers at once.

    .venv/bin/python bench/limits.py [--redis redis://127.0.0.1:6379/15] [--hits 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from redis.asyncio import Redis

from spendpilot.limits import MemoryRateLimit, RateLimit, RedisRateLimit


async def sequential(limit: RateLimit, hits: int) -> list[float]:
    samples = []
    for n in range(hits):
        started = time.perf_counter()
        await limit.hit(f"usr_{n % 100}")
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


async def concurrent(limit: RateLimit, hits: int, callers: int) -> float:
    async def caller(index: int) -> None:
        for n in range(hits // callers):
            await limit.hit(f"usr_{index}_{n % 10}")

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    return hits / (time.perf_counter() - started)


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--hits", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=64)
    args = parser.parse_args()
    prefix = f"splimitbench{uuid.uuid4().hex[:8]}"
    redis = Redis.from_url(args.redis)
    # A limit no caller reaches: every hit is recorded, the expensive path.
    limits = {"memory": MemoryRateLimit("bench", 10**9, 60),
              "redis": RedisRateLimit(redis, prefix, "bench", 10**9, 60)}
    print(f"{'limit':<8} {'p50 us':>8} {'p99 us':>8} {'hits/s, ' + str(args.callers) + ' callers':>22}")
    try:
        for name, limit in limits.items():
            samples = await sequential(limit, args.hits // 4)
            rate = await concurrent(limit, args.hits, args.callers)
            print(f"{name:<8} {pct(samples, 50):>8.1f} {pct(samples, 99):>8.1f} {rate:>22,.0f}")
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
