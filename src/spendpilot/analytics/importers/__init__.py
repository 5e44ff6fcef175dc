"""Importing usage files: the format registry, detection, streaming parse, batched idempotent insert.

FORMATS lists every import format in the order they are tried on a file of unknown format;
adding one is a module that declares `FORMAT = ImportFormat(...)` plus its line below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, BinaryIO

from ..store import AnalyticsStore
from . import anthropic, generic, litellm, openai, otlp
from .registry import Head, ImportFormat
from .report import ImportFormatError, ImportReport
from .source import open_source
from .writer import UsageWriter

__all__ = ["FORMATS", "ImportFormat", "ImportFormatError", "detect_format", "import_usage", "normalize_format"]

# Specific exports first: the generic format accepts any file with ts and model columns.
FORMATS: tuple[ImportFormat, ...] = (
    otlp.FORMAT,
    litellm.FORMAT,
    openai.FORMAT,
    anthropic.FORMAT,
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


def detect_format(raw_head: bytes, filename: str | None = None) -> ImportFormat:
    """The format of a file from its first bytes; raises ImportFormatError if none fits."""
    head = Head(raw_head.lstrip(b"\xef\xbb\xbf \t\r\n"))
    if not head.text:
        raise ImportFormatError("the file is empty")
    if b"\x00" in head.text[:4096]:
        raise ImportFormatError("the file is binary, not CSV or JSON usage data")
    for fmt in FORMATS:
        if fmt.sniff(head):
            return fmt
    kind = "JSON file" if head.is_json else ("CSV" if (filename or "").lower().endswith(".csv")
                                               or len(head.header) > 1 else "file")
    found = "" if head.is_json else f" (found: {head.first_line[:200]!r})"
    raise ImportFormatError(f"{kind} is not a recognised usage format{found}; expected "
                            + "; or ".join(f.label for f in FORMATS))


async def import_usage(
    store: AnalyticsStore,
    org_id: str,
    source: BinaryIO,
    *,
    filename: str | None = None,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Import a usage file into the org; returns the import report.

    ``{"format", "imported", "duplicates", "rejected": [{"line", "reason"}],
    "rejected_count", "skipped", "unpriced_models"}``. ``progress`` is called with the
    number of bytes consumed so far. Raises ImportFormatError when the file as a whole
    cannot be read as the named (or any detectable) format.
    """
    head, raw = open_source(source)
    if not head.strip():
        raise ImportFormatError("the file is empty")
    fmt = normalize_format(format) if format else detect_format(head, filename)
    report = ImportReport(format=fmt.name)
    batches = fmt.parse(raw, org_id, report, Head(head.lstrip(b"\xef\xbb\xbf \t\r\n")))

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
