"""Importing usage files: the format registry, detection, streaming parse, batched idempotent insert.

FORMATS lists every import format in the order they are tried on a file of unknown format;
adding one is a module that declares `FORMAT = ImportFormat(...)` plus its line below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, BinaryIO

from ..rows import COST_LINE
from ..store import AnalyticsStore
from . import (
    anthropic,
    anthropic_console,
    anthropic_console_cost,
    anthropic_cost,
    generic,
    litellm,
    openai,
    openai_costs,
    openrouter,
    otlp,
)
from .overlap import overlap_notes
from .registry import Head, ImportFormat
from .report import ImportFormatError, ImportReport
from .source import HEAD_BYTES, open_source
from .writer import UsageWriter

__all__ = ["FORMATS", "ImportFormat", "ImportFormatError", "detect_format", "import_usage", "normalize_format"]

# Specific exports first: the generic format accepts any file with ts and model columns. Cost
# reports come before the usage reports whose keys they share.
FORMATS: tuple[ImportFormat, ...] = (
    otlp.FORMAT,
    litellm.FORMAT,
    openrouter.FORMAT,
    openai_costs.FORMAT,
    openai.FORMAT,
    anthropic_cost.FORMAT,
    anthropic.FORMAT,
    anthropic_console_cost.FORMAT,
    anthropic_console.FORMAT,
    generic.FORMAT,
)
_BY_NAME = {name: f for f in FORMATS for name in (f.name, *f.aliases)}

def format_names() -> list[str]:
    """Every name a format may be given by: names, then aliases."""
    return [f.name for f in FORMATS] + [a for f in FORMATS for a in f.aliases]


def normalize_format(name: str) -> ImportFormat:
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        raise ImportFormatError(f"unknown format {name!r}; expected one of: {', '.join(format_names())}")
    return found


def _head(raw_head: bytes) -> Head:
    return Head(raw_head.lstrip(b"\xef\xbb\xbf \t\r\n"))


def detect_format(raw_head: bytes, filename: str | None = None) -> ImportFormat:
    """The format of a file from its first bytes (already decompressed and UTF-8, see source.open_source);
    raises ImportFormatError if none fits."""
    head = _head(raw_head)
    if not head.text:
        raise ImportFormatError("the file is empty")
    if b"\x00" in head.text[:4096]:
        raise ImportFormatError("the file is binary, not CSV or JSON usage data")
    for fmt in FORMATS:
        if fmt.sniff(head):
            return fmt
    kind = "JSON file" if head.is_json else ("CSV" if (filename or "").lower().endswith(".csv")
                                               or len(head.header) > 1 else "file")
    found = f" (keys: {', '.join(list(head.first_record)[:20])})" if head.first_record else (
        "" if head.is_json else f" (found: {head.first_line[:200]!r})")
    raise ImportFormatError(f"{kind} is not a recognised usage format{found}; expected "
                            + "; or ".join(f.label for f in FORMATS))


def _as_reference(rows: list[dict]) -> None:
    for row in rows:
        if row["tags"].get("kind") == COST_LINE:
            row["cost_usd"] = 0.0
            row["tags"]["basis"] = "reference"


def sniff_file(data: bytes, filename: str | None = None) -> ImportFormat:
    """The format of a whole upload's first bytes as sent (compressed or not, any encoding)."""
    import io

    return detect_format(open_source(io.BytesIO(data[:HEAD_BYTES])).head, filename)


async def import_usage(
    store: AnalyticsStore,
    org_id: str,
    source: BinaryIO,
    *,
    filename: str | None = None,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
    cost_lines: str = "spend",
) -> dict:
    """Import a usage file into the org; returns the import report.

    ``{"format", "imported", "duplicates", "rejected": [{"line", "reason"}], "rejected_count",
    "skipped", "unpriced_models", "unknown_columns", "cost_lines", "without_model",
    "stated_vs_computed", "notes"}`` (see ImportReport). ``progress`` is called with the
    number of bytes of the upload consumed so far. ``cost_lines="reference"`` stores billed cost
    lines at $0 with their amount kept in stated_cost_usd (for reconciliation beside usage that is
    already the spend, as connectors pull both). Raises ImportFormatError when the file as a whole
    cannot be read as the named (or any detectable) format.
    """
    opened = open_source(source)
    head, raw = opened.head, opened.raw
    if not head.strip():
        raise ImportFormatError("the file is empty")
    fmt = normalize_format(format) if format else detect_format(head, filename)
    report = ImportReport(format=fmt.name)
    for note in opened.notes:
        report.note(note)
    batches = fmt.parse(raw, org_id, report, _head(head))

    def next_batch() -> Any:
        return next(batches, None)

    # Imports into one org take turns (across every process sharing the store), so two uploads
    # of one file cannot both pass the duplicate check before either has written.
    async with store.import_lock(org_id), UsageWriter(store, org_id, report) as writer:
        # Parsing (a worker thread) overlaps with writing the previous batch.
        pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
        try:
            while (batch := await pending) is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(next_batch))
                if isinstance(batch, list):
                    report.add_rows(batch)
                    if cost_lines == "reference":
                        _as_reference(batch)
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
    if cost_lines == "reference":
        report.cost_spans.clear()
    if opened.problem:
        report.note(opened.problem)
    if report.without_model:
        report.note(f"{report.without_model} usage rows have no model: their tokens and requests are imported under "
                    "the model 'unknown' but not priced ($0), so spend is understated and the per-model analyses "
                    f"(right-sizing, caching, batching) cannot see them; {fmt.model_hint}")
    await overlap_notes(store, org_id, report)
    if progress:
        progress(raw.bytes_read)
    return report.as_dict()
