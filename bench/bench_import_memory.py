"""Import of a large CSV in bounded memory: Spendpilot's importer against chDB loading the same file.

Each side runs in its own process on a fresh chDB directory, so its peak RSS (from wait4) is its own:

    .venv/bin/python bench/bench_import_memory.py --csv /tmp/spendpilot-bench-1gb.csv

The file is the demo data set in the generic format (written once with --rows when missing). The
Spendpilot side is `import_usage` exactly as the API and `spendpilot ingest` run it: sniffing,
parsing, validation, pricing at each row's date, per-file numbering of repeated rows, dedupe against
stored rows, rollups. The chDB side is one `INSERT INTO llm_usage SELECT ... FROM file(...)` into
the same table with the same materialized views: the engine's own CSV reader, no validation, no
pricing, no dedupe.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_CSV = Path(tempfile.gettempdir()) / "spendpilot-bench-1gb.csv"
# About 144 bytes a row: 7.46 million rows make 1 GB.
DEFAULT_ROWS = 7_460_000
STRUCTURE = ("ts String, user String, provider String, model String, feature String, input_tokens UInt64, "
             "output_tokens UInt64, cached_input_tokens UInt64, latency_ms Nullable(UInt32), status String, "
             "is_batch UInt8, prompt_hash String, prompt_prefix_hash String, prompt_prefix_tokens UInt32, "
             "max_tokens Nullable(UInt32), cost_usd Nullable(Float64)")


async def run_spendpilot(csv: Path, workdir: Path) -> dict:
    from spendpilot.analytics.importers import import_usage
    from spendpilot.analytics.store import ChdbStore

    store = ChdbStore(workdir / "chdb")
    await store.ensure_schema()
    started = time.perf_counter()
    with open(csv, "rb") as fh:
        report = await import_usage(store, "bench_org", fh, filename=csv.name)
    seconds = time.perf_counter() - started
    rows = (await store.query("SELECT count() AS n FROM llm_usage"))[0]["n"]
    await store.close()
    return {"seconds": seconds, "stored": rows, "imported": report["imported"], "rejected": report["rejected_count"],
            "duplicates": report["duplicates"]}


async def run_chdb(csv: Path, workdir: Path) -> dict:
    from spendpilot.analytics.store import ChdbStore

    store = ChdbStore(workdir / "chdb")
    await store.ensure_schema()
    started = time.perf_counter()
    await store.command(
        "INSERT INTO llm_usage (ts, org_id, user, provider, model, feature, input_tokens, output_tokens, "
        "cached_input_tokens, latency_ms, status, is_batch, prompt_hash, prompt_prefix_hash, prompt_prefix_tokens, "
        "max_tokens, cost_usd) "
        "SELECT parseDateTime64BestEffort(ts, 3, 'UTC'), 'bench_org', user, provider, model, feature, input_tokens, "
        "output_tokens, cached_input_tokens, latency_ms, status, is_batch, prompt_hash, prompt_prefix_hash, "
        f"prompt_prefix_tokens, max_tokens, ifNull(cost_usd, 0) FROM file('{csv}', 'CSVWithNames', '{STRUCTURE}')"
    )
    seconds = time.perf_counter() - started
    rows = (await store.query("SELECT count() AS n FROM llm_usage"))[0]["n"]
    await store.close()
    return {"seconds": seconds, "stored": rows}


def child(side: str, csv: Path) -> dict:
    """Run one side in a fresh process; its result and peak RSS (MB)."""
    with tempfile.TemporaryDirectory(prefix=f"spendpilot-bench-{side}-") as workdir:
        process = subprocess.Popen([sys.executable, __file__, "--side", side, "--csv", str(csv), "--workdir", workdir],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise SystemExit(f"{side} failed with status {status}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows to write when the CSV is missing")
    parser.add_argument("--side", choices=["spendpilot", "chdb"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        runner = run_spendpilot if args.side == "spendpilot" else run_chdb
        print(json.dumps(asyncio.run(runner(args.csv, args.workdir))))
        return
    if not args.csv.exists():
        from spendpilot.analytics.demo import write_demo_file

        started = time.perf_counter()
        write_demo_file(args.csv, args.rows)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
    size = args.csv.stat().st_size
    with open(args.csv, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1
    load = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"file: {args.csv} {size / 1e9:.2f} GB, {lines:,} rows")
    print(f"{'':12} {'seconds':>8} {'rows/s':>10} {'MB/s':>7} {'peak RSS MB':>12} {'CPU s':>7} {'stored':>11}")
    for side in ("spendpilot", "chdb"):
        r = child(side, args.csv)
        print(f"{side:12} {r['seconds']:8.1f} {lines / r['seconds']:10,.0f} {size / 1e6 / r['seconds']:7.1f} "
              f"{r['peak_rss_mb']:12.0f} {r['cpu_s']:7.1f} {r['stored']:11,}"
              + (f"  (imported {r['imported']:,}, rejected {r['rejected']:,})" if side == "spendpilot" else ""))


if __name__ == "__main__":
    main()
