"""Import throughput: a generic CSV of N demo rows into a fresh chDB, first load and re-import.

    .venv/bin/python bench/bench_import.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

from spendpilot.analytics.demo import write_demo_file
from spendpilot.analytics.importers import import_usage
from spendpilot.analytics.store import ChdbStore


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", type=Path, default=None, help="reuse/write the CSV here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="spendpilot-bench-import-"))
    path = args.csv or workdir / "usage.csv"
    if not path.exists():
        started = time.perf_counter()
        written = write_demo_file(path, args.rows)
        print(f"wrote {written:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")

    store = ChdbStore(workdir / "chdb")
    await store.ensure_schema()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}")
    for label in ("first import", "re-import (all duplicates)"):
        with open(path, "rb") as fh:
            started, cpu = time.perf_counter(), time.process_time()
            report = await import_usage(store, "bench_org", fh, filename=path.name)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows = report["imported"] + report["duplicates"] + report["rejected_count"]
        # CPU time (all threads, including chDB's) tells the cost on a machine shared with other work.
        print(
            f"{label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s, "
            f"CPU {cpu:.2f} s "
            f"(imported {report['imported']:,}, duplicates {report['duplicates']:,}, "
            f"rejected {report['rejected_count']})"
        )
    await store.close()


if __name__ == "__main__":
    asyncio.run(main())
