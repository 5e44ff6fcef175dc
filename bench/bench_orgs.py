"""Many orgs asking for the full analysis at once: N orgs x R usage rows in a fresh chDB store, then every org's
run of the agent pipeline started together, as a burst of "Analyze my AI costs" would start them.

    .venv/bin/python bench/bench_orgs.py --orgs 500 --rows 2000

Usage goes in through the product's insert path (AnalyticsStore.insert_rows, so the rollup views fill as on
import); each org gets its own demo data (own seed). Each run is the real pipeline (`run_supervisor`: triage,
data, optimization, report by the offline model) on its own AgentContext, events counted instead of sent; no
sockets and no SQLite, so the figures are the analysis's own. `--tools-only` runs just the catalogue tools the
pipeline calls, in its order. Prints analyses/s, p50/p99 per analysis, answered within the deadline, the
load average and the process's CPU time (chDB's threads included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from itertools import islice
from pathlib import Path

from spendpilot.agents.context import AgentContext
from spendpilot.agents.offline import OfflineModel
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.analytics.catalog import TOOLS, OrgUsage
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.store import ChdbStore
from spendpilot.analytics.window import Period

QUESTION = "Analyze my AI costs"


async def seed(store: ChdbStore, orgs: list[str], rows: int) -> int:
    """Every org's demo usage, several orgs per insert (the insert path's batches stay about 50,000 rows)."""
    per_insert = max(1, 50_000 // max(rows, 1))
    stored = 0
    for start in range(0, len(orgs), per_insert):
        batch: list[dict] = []
        for index, org_id in enumerate(orgs[start:start + per_insert], start=start):
            batch.extend(islice(generate_usage(org_id, rows, seed=1000 + index), rows))
        stored += await store.insert_rows(batch)
    return stored


async def pipeline_run(store: ChdbStore, org_id: str) -> int:
    events = 0

    async def emit(_kind: str, _data: dict) -> int:
        nonlocal events
        events += 1
        return events

    ctx = AgentContext(run_id=f"run_{org_id}", org_id=org_id, content=QUESTION, emit=emit,
                       cancel=asyncio.Event(), analytics=store, model=OfflineModel())
    await run_supervisor(ctx)
    return events


async def tools_run(store: ChdbStore, org_id: str) -> int:
    """The catalogue tools a full analysis calls, in the pipeline's order, on the whole stored usage."""
    usage = OrgUsage(store, org_id)
    profile = await TOOLS["profile_usage"].run(usage, TOOLS["profile_usage"].arguments())
    if not profile["rows"]:
        return 1
    period = {"from": profile["first_day"], "to": profile["last_day"]}
    await usage.warm(Period(date.fromisoformat(profile["first_day"]), date.fromisoformat(profile["last_day"])))
    calls = [("usage_summary", {**period, "group_by": "model"}), ("spend_overview", period)]
    if profile["fields_present"]["user"]:
        calls.append(("usage_summary", {**period, "group_by": "user"}))
    calls += [(name, period) for name in TOOLS if name.startswith("find_")]
    for name, args in calls:
        await TOOLS[name].run(usage, TOOLS[name].arguments.model_validate(args))
    return len(calls) + 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=500)
    parser.add_argument("--rows", type=int, default=2000, help="usage rows per org")
    parser.add_argument("--deadline", type=float, default=120.0, help="a run answered later counts as lost (s)")
    parser.add_argument("--tools-only", action="store_true", help="the catalogue tools only, no agents or report")
    args = parser.parse_args()

    store = ChdbStore(Path(tempfile.mkdtemp(prefix="spendpilot-bench-orgs-")))
    await store.ensure_schema()
    orgs = [f"bench_org_{i:04d}" for i in range(args.orgs)]
    started = time.perf_counter()
    stored = await seed(store, orgs, args.rows)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}; "
          f"seeded {stored:,} rows for {len(orgs)} orgs in {time.perf_counter() - started:.1f} s")

    run = tools_run if args.tools_only else pipeline_run
    latencies: list[float] = []
    lost = 0
    load_before = os.getloadavg()[0]
    cpu = time.process_time()
    burst = time.perf_counter()

    async def one(org_id: str) -> None:
        nonlocal lost
        begun = time.perf_counter()
        try:
            await asyncio.wait_for(run(store, org_id), args.deadline)
        except TimeoutError:
            lost += 1
            return
        latencies.append(time.perf_counter() - begun)

    await asyncio.gather(*(one(org_id) for org_id in orgs))
    wall = time.perf_counter() - burst
    cpu = time.process_time() - cpu
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
    print(f"{'tools' if args.tools_only else 'pipeline'} runs: answered {len(latencies)}/{len(orgs)} within "
          f"{args.deadline:.0f} s, {len(latencies) / wall:.1f} analyses/s over {wall:.1f} s; per analysis p50 "
          f"{statistics.median(ordered) * 1000 if ordered else float('nan'):.0f} ms, p99 {p99 * 1000:.0f} ms; "
          f"CPU {cpu:.1f} s ({cpu / max(len(latencies), 1) * 1000:.1f} ms per analysis); "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
