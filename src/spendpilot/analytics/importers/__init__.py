"""Importing usage files: format detection, streaming parse, batched idempotent insert."""

from __future__ import annotations

import asyncio
from itertools import islice
from typing import Any, BinaryIO, Callable, Iterator

from ..store import AnalyticsStore
from .anthropic import parse_anthropic
from .detect import FORMATS, detect_format, is_json, normalize_format
from .fastcsv import csv_batches
from .generic import parse_jsonl
from .openai import parse_openai_csv, parse_openai_json
from .otlp import parse_otlp
from .report import ImportFormatError, ImportReport
from .source import CountingReader, open_source
from .writer import UsageWriter

__all__ = ["FORMATS", "ImportFormatError", "import_usage", "detect_format"]

BATCH_ROWS = 50_000

# Serialises imports per org in this process, so two uploads of one file cannot both
# pass the duplicate check before either has written. Keyed by loop too: a lock belongs
# to the loop it first waits on, and the CLI runs one loop per command.
_org_locks: dict[tuple[int, str], asyncio.Lock] = {}


def _row_parser(fmt: str, head: bytes) -> Callable[[CountingReader, str, ImportReport], Iterator[dict]]:
    if fmt == "generic":
        return parse_jsonl
    if fmt == "openai":
        return parse_openai_json if is_json(head) else parse_openai_csv
    if fmt == "anthropic":
        return parse_anthropic
    return parse_otlp


def _batches(fmt: str, head: bytes, raw: CountingReader, org_id: str, report: ImportReport, batch_rows: int) -> Iterator[Any]:
    """Batches to write: pyarrow Tables (vectorised CSV) or lists of row dicts."""
    if fmt == "generic" and not is_json(head):
        yield from csv_batches(raw, org_id, report)
        return
    rows = _row_parser(fmt, head)(raw, org_id, report)
    while batch := list(islice(rows, batch_rows)):
        yield batch


async def import_usage(
    store: AnalyticsStore,
    org_id: str,
    source: BinaryIO,
    *,
    filename: str | None = None,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> dict:
    """Import a usage file into the org; returns the import report.

    ``{"format", "imported", "duplicates", "rejected": [{"line", "reason"}],
    "rejected_count", "skipped", "unpriced_models"}``. ``progress`` is called with the
    number of bytes consumed so far. Raises ImportFormatError when the file as a whole
    cannot be read as the named (or any detectable) format.
    """
    head, raw = open_source(source)
    fmt = normalize_format(format) if format else detect_format(head, filename)
    if not head.strip():
        raise ImportFormatError("the file is empty")
    report = ImportReport(format=fmt)
    batches = _batches(fmt, head, raw, org_id, report, batch_rows)

    def next_batch() -> Any:
        return next(batches, None)

    lock = _org_locks.setdefault((id(asyncio.get_running_loop()), org_id), asyncio.Lock())
    async with lock, UsageWriter(store, org_id, report) as writer:
        # Parsing (a worker thread) overlaps with writing the previous batch.
        pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
        try:
            while (batch := await pending) is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
                if isinstance(batch, list):
                    report.unpriced_models.update(r["model"] for r in batch if not r["priced"])
                    await writer.write_rows(batch)
                else:
                    await writer.write_arrow(batch)
                if progress:
                    progress(raw.bytes_read)
        finally:
            if not pending.done():
                # A parsing thread cannot be interrupted: let it finish before the
                # caller closes the source under it.
                await asyncio.wait([pending])
    if progress:
        progress(raw.bytes_read)
    return report.as_dict()
