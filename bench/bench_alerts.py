"""Alert evaluation cost: one org's budgets checked (status, month forecast, anomalies) over N rows in chDB.

What the periodic sweep and every import pay per org. Budgets: the whole org, one per feature, one on
a user and one on a tag (the last two read raw rows).

    .venv/bin/python bench/bench_alerts.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

from spendpilot.analytics.analyses.anomalies import recent_anomalies
from spendpilot.analytics.budgets import BudgetSpec, budget_status
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.forecast import forecast_spend
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.store import ChdbStore

ORG = "bench_alerts"
FEATURES = ("support-bot", "doc-summarizer", "nightly-report", "code-review", "search-rerank", "chat-assistant")


async def load(store: ChdbStore, rows: int, end: date) -> int:
    it = generate_usage(ORG, rows, days=90, seed=7, end=end)
    total = 0
    while batch := await asyncio.to_thread(lambda: list(islice(it, 250_000))):
        for row in batch:
            row["tags"] = {"team": "core" if hash(row["feature"]) % 2 else "growth"}
        total += await store.insert_rows(batch)
    return total


def budgets() -> list[BudgetSpec]:
    scopes = [Scope(), *(Scope(feature=f) for f in FEATURES), Scope(user="user-001"), Scope(tag="team=core")]
    return [BudgetSpec(f"b{i}", f"budget {i}", 100.0, scope, (50, 80, 100)) for i, scope in enumerate(scopes)]


async def evaluate(store: ChdbStore, today: date) -> dict[str, float]:
    timings: dict[str, float] = {}
    for spec in budgets():
        started = time.perf_counter()
        await budget_status(store, ORG, spec, today)
        await recent_anomalies(store, ORG, today, spec.scope)
        timings[spec.scope.key()] = time.perf_counter() - started
    started = time.perf_counter()
    await forecast_spend(store, ORG, horizon_days=30, today=today)
    timings["forecast_spend (REST, whole org)"] = time.perf_counter() - started
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    today = date.today()
    store = ChdbStore(Path(tempfile.mkdtemp(prefix="spendpilot-bench-alerts-")))
    await store.ensure_schema()
    started = time.perf_counter()
    stored = await load(store, args.rows, today - timedelta(days=1))
    print(f"loaded {stored:,} rows in {time.perf_counter() - started:.0f} s")
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    totals = []
    for run in range(args.runs):
        timings = await evaluate(store, today)
        totals.append(sum(timings.values()))
        if run == 0:
            for name, seconds in timings.items():
                print(f"  {name:<40} {seconds * 1000:8.0f} ms")
    print(f"one org, {len(budgets())} budgets: first {totals[0]:.2f} s, median {statistics.median(totals):.2f} s, "
          f"best {min(totals):.2f} s over {args.runs} runs")
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
