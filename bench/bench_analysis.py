"""Analysis latency: every spend query and savings analysis over N rows of one org in chDB.

    .venv/bin/python bench/bench_analysis.py --rows 10000000

Two ways through the same 12 calls: "direct" calls each function on the store on its own (no cache), as
before; "catalogue" goes through OrgUsage as a run does (its reads filed together first, statements asked
twice run once), with a new usage version before each run so every run starts cold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

from spendpilot.analytics.analyses import REGISTRY
from spendpilot.analytics.catalog import OrgUsage
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.queries import data_profile, spend_overview, usage_summary
from spendpilot.analytics.store import ChdbStore
from spendpilot.analytics.window import Period

ORG = "bench_org"


async def load(store: ChdbStore, rows: int) -> int:
    it = generate_usage(ORG, rows, days=90, seed=7)
    total = 0
    while batch := await asyncio.to_thread(lambda: list(islice(it, 250_000))):
        total += await store.insert_rows(batch)
    await store.command("OPTIMIZE TABLE llm_usage FINAL")
    return total


async def full_suite(store: ChdbStore) -> dict[str, float]:
    timings: dict[str, float] = {}

    async def timed(name, coro):
        started = time.perf_counter()
        await coro
        timings[name] = time.perf_counter() - started

    for group in ("model", "provider", "feature", "day"):
        await timed(f"usage_summary[{group}]", usage_summary(store, ORG, group_by=group))
    await timed("data_profile", data_profile(store, ORG))
    await timed("spend_overview", spend_overview(store, ORG))
    for analysis in REGISTRY:
        await timed(analysis.name, analysis.run(store, ORG))
    return timings


async def catalogue_suite(store: ChdbStore) -> dict[str, float]:
    """The same calls through OrgUsage, cold: a new usage version first, as after a write."""
    await store.usage_written([ORG])
    usage = OrgUsage(store, ORG)
    timings: dict[str, float] = {}

    async def timed(name, coro):
        started = time.perf_counter()
        await coro
        timings[name] = time.perf_counter() - started

    await timed("data_profile", usage.profile())
    await timed("(reads filed together)", usage.warm(Period()))
    for group in ("model", "provider", "feature", "day"):
        await timed(f"usage_summary[{group}]", usage.summary(Period(), group))
    await timed("spend_overview", usage.overview(Period()))
    for analysis in REGISTRY:
        await timed(analysis.name, usage.analysis(analysis, Period()))
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse a loaded chDB directory")
    args = parser.parse_args()

    path = args.data_dir or Path(tempfile.mkdtemp(prefix="spendpilot-bench-analysis-"))
    store = ChdbStore(path)
    await store.ensure_schema()
    stored = (await store.query("SELECT count() AS n FROM llm_usage WHERE org_id = {o:String}", {"o": ORG}))[0]["n"]
    if stored < args.rows:
        started = time.perf_counter()
        stored = await load(store, args.rows)
        print(f"loaded {stored:,} rows in {time.perf_counter() - started:.0f} s into {path}")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, rows {stored:,}")

    for label, suite in (("direct", full_suite), ("catalogue", catalogue_suite)):
        totals, cpus = [], []
        load_at_start = os.getloadavg()[0]
        for run in range(args.runs):
            cpu = time.process_time()
            timings = await suite(store)
            cpus.append(time.process_time() - cpu)
            totals.append(sum(timings.values()))
            if run == 0:
                print(f"{label}, first run:")
                for name, seconds in timings.items():
                    print(f"  {name:<26} {seconds * 1000:8.0f} ms")
        print(
            f"{label} full suite (12 calls): first {totals[0]:.2f} s, median {statistics.median(totals):.3f} s, "
            f"best {min(totals):.3f} s over {args.runs} runs; CPU (all threads) median "
            f"{statistics.median(cpus):.3f} s; load average {load_at_start:.1f} -> {os.getloadavg()[0]:.1f}"
        )
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
