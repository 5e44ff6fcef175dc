"""What one commit of the live intake writer costs, by batch size: the engine's fixed cost per insert against
its cost per row, which sets how many rows a commit should wait for (live_writer.WORTH_ROWS).

    .venv/bin/python bench/bench_intake_commits.py --spans 60000 --batches 500,1000,2000,5000,10000

Each size writes the same number of span rows (fresh identities, so the staged merge keeps them all) through
`IntakeWriter.write` into a fresh embedded chDB store, one commit per batch. CPU is the process's (the engine's
threads included), so a busy machine distorts it little.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spendpilot.analytics.live_writer import IntakeWriter
from spendpilot.analytics.rows import build_row
from spendpilot.analytics.store import ChdbStore


def span_rows(start: int, count: int, now: datetime) -> list[dict]:
    return [build_row("bench_org", ts=now + timedelta(microseconds=n), model="gpt-4o-mini", provider="openai",
                      input_tokens=100, output_tokens=10, source_id=f"{n:032x}:{n:016x}")
            for n in range(start, start + count)]


async def measure(batch: int, spans: int) -> tuple[float, float]:
    """(CPU us a span, CPU ms a commit) for `spans` rows written `batch` at a time."""
    with tempfile.TemporaryDirectory(prefix="spendpilot-bench-commits-") as workdir:
        store = ChdbStore(Path(workdir) / "chdb")
        await store.ensure_schema()
        writer = IntakeWriter(store, max_pending=10 * spans, max_pending_per_key=10 * spans, batch_rows=batch,
                              write_timeout_s=600)
        await writer.start()
        now = datetime.now(UTC)
        await writer.write(span_rows(0, batch, now), key_id="bench", source="otlp")  # warm-up commit
        batches = [span_rows(batch + i * batch, batch, now) for i in range(spans // batch)]
        started = time.process_time()
        for rows in batches:
            await writer.write(rows, key_id="bench", source="otlp")
        cpu = time.process_time() - started
        await writer.close()
        await store.close()
    return cpu / (len(batches) * batch) * 1e6, cpu / len(batches) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=60_000)
    parser.add_argument("--batches", default="500,1000,2000,5000,10000")
    args = parser.parse_args()
    print(f"{'rows a commit':>14} {'CPU us a span':>14} {'CPU ms a commit':>16}")
    for batch in (int(b) for b in args.batches.split(",")):
        per_span, per_commit = asyncio.run(measure(batch, args.spans))
        print(f"{batch:>14,} {per_span:>14.1f} {per_commit:>16.1f}")


if __name__ == "__main__":
    main()
