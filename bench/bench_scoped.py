"""What a scoped question costs: each analysis, the period comparison and the profile over N rows in chDB,
for the whole org, a rollup scope (a feature) and raw-row scopes (a user, a tag).

A follow-up in a thread runs every tool on its scope; a feature, model or provider reads the rollups, a
user or a tag reads the window's raw rows shaped like them. Each figure is the median of --repeat cold runs
(no result cache: the analyses are called directly).

    .venv/bin/python bench/bench_scoped.py --rows 300000
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

from spendpilot.analytics.analyses import REGISTRY
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.periods import compare_periods
from spendpilot.analytics.queries import data_profile
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.store import ChdbStore

ORG = "bench_scoped"
SCOPES = {"whole org": Scope(), "feature (rollup)": Scope(feature="code-review"),
          "user (raw rows)": Scope(user="user-001"), "tag (raw rows)": Scope(tag="team=platform")}


async def load(store: ChdbStore, rows: int, end: date) -> int:
    it = generate_usage(ORG, rows, days=90, seed=7, end=end)
    total = 0
    while batch := await asyncio.to_thread(lambda: list(islice(it, 250_000))):
        total += await store.insert_rows(batch)
    return total


async def timed(repeat: int, make) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def main(rows: int, repeat: int) -> None:
    end = date(2026, 6, 30)
    with tempfile.TemporaryDirectory() as data_dir:
        store = ChdbStore.open_shared(data_dir)
        await store.ensure_schema()
        started = time.perf_counter()
        loaded = await load(store, rows, end)
        print(f"loaded {loaded:,} rows in {time.perf_counter() - started:.1f} s "
              f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})")
        first, last = end - timedelta(days=89), end
        week, before = (last - timedelta(days=6), last), (last - timedelta(days=13), last - timedelta(days=7))
        print(f"| tool | {' | '.join(SCOPES)} |")
        print("|---|" + "---:|" * len(SCOPES))
        for analysis in REGISTRY:
            cells = [await timed(repeat, lambda s=scope, a=analysis: a.run(store, ORG, first, last, s))
                     for scope in SCOPES.values()]
            print(f"| {analysis.tool} (90 days) | " + " | ".join(f"{ms:,.1f} ms" for ms in cells) + " |")
        cells = [await timed(repeat, lambda s=scope: compare_periods(store, ORG, week, before, s))
                 for scope in SCOPES.values()]
        print("| compare_periods (7 days vs 7) | " + " | ".join(f"{ms:,.1f} ms" for ms in cells) + " |")
        profile = await timed(repeat, lambda: data_profile(store, ORG))
        print(f"\nprofile_usage (with users and tags from the last calls): {profile:,.1f} ms")
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.repeat))
