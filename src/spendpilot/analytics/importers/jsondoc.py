"""JSON exports arrive as one document, an array of pages, or JSON Lines of pages."""

from __future__ import annotations

import io
from typing import Any, Iterator

import orjson

from .report import ImportFormatError, ImportReport
from .source import CountingReader


def iter_documents(raw: CountingReader, label: str, report: ImportReport | None = None) -> Iterator[tuple[int | None, Any]]:
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
