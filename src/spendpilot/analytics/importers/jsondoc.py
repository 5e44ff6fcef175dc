"""JSON exports arrive as one document, an array of pages, or JSON Lines of pages."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from ..rows import RowError
from .report import ImportFormatError, ImportReport
from .source import CountingReader


def iter_documents(
    raw: CountingReader, label: str, report: ImportReport | None = None
) -> Iterator[tuple[int | None, Any]]:
    """(line number or None, document) for each page of an export.

    JSON Lines files are streamed line by line and keep their line numbers; a single
    document (aggregated usage exports are small) is parsed whole.
    """
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    first = buffered.readline()
    if first.startswith(b"\xef\xbb\xbf"):
        first = first[3:]
    try:
        doc = orjson.loads(first)
    except orjson.JSONDecodeError:
        doc = None
    else:
        yield 1, doc
        for number, line in enumerate(buffered, start=2):
            if not line.strip():
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if report is None:
                    raise ImportFormatError(f"{label}: invalid JSON on line {number}: {exc}") from None
                report.reject(number, f"invalid JSON: {exc}")
        return
    try:
        doc = orjson.loads(first + buffered.read())
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError(f"{label}: invalid JSON: {exc}") from None
    if isinstance(doc, list):
        for page in doc:
            yield None, page
    else:
        yield None, doc


def parse_buckets(raw: CountingReader, org_id: str, report: ImportReport, *, label: str, start_key: str,
                  convert: Callable[[str, dict, Any], dict]) -> Iterator[dict]:
    """Rows of every result of every time bucket (OpenAI and Anthropic usage exports share this shape:
    pages with a 'data' list of buckets, each with 'results'); ``line`` is the result's 1-based position."""
    position = 0
    for doc_line, page in iter_documents(raw, label, report):
        buckets = page.get("data") if isinstance(page, dict) else None
        if not isinstance(buckets, list):
            position += 1
            report.reject(doc_line or position, f"expected a {label} page with a 'data' list")
            continue
        for b, bucket in enumerate(buckets):
            results = bucket.get("results") if isinstance(bucket, dict) else None
            if not isinstance(results, list):
                position += 1
                report.reject(doc_line or position, f"data[{b}]: expected a bucket with a 'results' list")
                continue
            for r, rec in enumerate(results):
                position += 1
                try:
                    if not isinstance(rec, dict):
                        raise RowError("expected an object")
                    yield convert(org_id, rec, bucket.get(start_key))
                except RowError as exc:
                    report.reject(doc_line or position, f"data[{b}].results[{r}]: {exc}")
