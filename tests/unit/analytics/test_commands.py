"""The CLI-facing functions: demo file writing and file ingestion into the configured store."""

from __future__ import annotations

import asyncio
import csv

from spendpilot.analytics.commands import demo_data, ingest_file
from spendpilot.analytics.queries import usage_summary
from spendpilot.config import Settings


async def test_demo_data_then_ingest(store, org_id, tmp_path):
    path = tmp_path / "demo.csv"
    written = demo_data(path, 2_000)
    with open(path, newline="") as fh:
        assert sum(1 for _ in csv.reader(fh)) == written + 1
    # ingest_file runs its own event loop, as the CLI does: call it from a worker thread.
    result = await asyncio.to_thread(ingest_file, Settings(data_dir=tmp_path), path, org_id, None)
    assert (result["format"], result["imported"], result["duplicates"]) == ("generic", written, 0)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == written
    again = await asyncio.to_thread(ingest_file, Settings(data_dir=tmp_path), path, org_id, "generic")
    assert (again["imported"], again["duplicates"]) == (0, written)
