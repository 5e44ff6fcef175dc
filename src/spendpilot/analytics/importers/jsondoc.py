"""JSON exports arrive as one document (minified or pretty-printed), an array, or JSON Lines.

`iter_items` streams the records of any of these in bounded memory: JSON Lines line by line, an
array element by element, and an object that wraps its list (`{"data": [...]}`, `{"rows": [...]}`)
element by element of that list. `parse_buckets` reads usage-report pages on top of it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import ijson
import orjson

from ..rows import RowError
from .registry import CONTAINER_KEYS, Head
from .report import ImportFormatError, ImportReport
from .source import CountingReader


def iter_documents(
    raw: CountingReader, label: str, report: ImportReport | None = None
) -> Iterator[tuple[int | None, Any]]:
    """(line number or None, document) for each page of an export.

    JSON Lines files are streamed line by line and keep their line numbers; a single
    document is parsed whole (a top-level array yields its elements).
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
        yield from _json_lines(buffered, label, report)
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


def _json_lines(buffered: Any, label: str, report: ImportReport | None,
                start: int = 2) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(buffered, start=start):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if report is None:
                raise ImportFormatError(f"{label}: invalid JSON on line {number}: {exc}") from None
            report.reject(number, f"invalid JSON: {exc}")


def _container(head: Head) -> str | None:
    """The key of the list a top-level object wraps, read from the head's parse events."""
    try:
        for prefix, event, _value in ijson.parse(io.BytesIO(head.text)):
            if prefix in CONTAINER_KEYS and event == "start_array":
                return str(prefix)
    except (ijson.JSONError, ijson.IncompleteJSONError):
        pass
    return None


def object_rows(raw: CountingReader, head: Head, label: str, noun: str, convert: Callable[[dict], dict],
                report: ImportReport) -> Iterator[dict]:
    """The row of every record of a JSON export whose records are objects; a record that is not one,
    or whose row cannot be built, is rejected with its line number."""
    for line, rec in iter_items(raw, head, label, report):
        if not isinstance(rec, dict):
            report.reject(line, f"expected {noun}")
            continue
        try:
            yield convert(rec)
        except RowError as exc:
            report.reject(line, str(exc))


def iter_items(raw: CountingReader, head: Head, label: str,
               report: ImportReport) -> Iterator[tuple[int, Any]]:
    """(line number or position, record) of every record of a JSON export, streamed.

    A record is a JSON line, an element of a top-level array, or an element of the list a
    top-level object wraps; an object that wraps none is one record. JSON Lines keep their line
    numbers; other records are numbered by position (1-based).
    """
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    if head.first_object is not None or (head.text[:1] == b"[" and _one_line_array(head)):
        first = buffered.readline()
        try:
            doc = orjson.loads(first.lstrip(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as exc:
            raise ImportFormatError(f"{label}: invalid JSON on line 1: {exc}") from None
        if isinstance(doc, list):  # one array on one line (minified): numbered by position
            yield from enumerate(doc, start=1)
        else:
            yield 1, doc
        yield from _json_lines(buffered, label, report)
        return
    if head.text[:1] == b"[":
        prefix = "item"
    elif (key := _container(head)) is not None:
        prefix = f"{key}.item"
    else:
        try:
            yield 1, orjson.loads(buffered.read())
        except orjson.JSONDecodeError as exc:
            raise ImportFormatError(f"{label}: invalid JSON: {exc}") from None
        return
    position = 0
    try:
        for position, item in enumerate(ijson.items(buffered, prefix, use_float=True), start=1):
            yield position, item
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        # Records before the damage are imported; the report names where reading stopped.
        report.reject(position + 1, f"invalid JSON after record {position}: {str(exc)[:200]}")


def _one_line_array(head: Head) -> bool:
    line = head.text.split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(line), list)
    except orjson.JSONDecodeError:
        return False


def buckets_of(item: Any, results_key: str = "results") -> list[Any] | None:
    """The time buckets in one record of a usage export: a page's `data`, or the record itself when
    it is a bucket (the OpenAI cookbook saves a bare list of buckets); None when it is neither."""
    if isinstance(item, dict):
        if isinstance(item.get("data"), list):
            return item["data"]
        if isinstance(item.get(results_key), list) or isinstance(item.get("result"), list):
            return [item]
    return None


def parse_buckets(raw: CountingReader, org_id: str, report: ImportReport, head: Head, *, label: str,
                  start_key: str, convert: Callable[[str, dict, dict], dict | None]) -> Iterator[dict]:
    """Rows of every result of every time bucket (OpenAI and Anthropic reports share this shape:
    pages with a 'data' list of buckets, each with 'results'); ``line`` is the JSON line, or the
    result's 1-based position in the file. ``convert(org_id, result, bucket)`` may return None
    for a result that is not usage (counted as skipped)."""
    position = 0
    streamed = 0  # buckets streamed one by one out of one page: numbered across the page
    for where, item in iter_items(raw, head, label, report):
        line = where if head.first_object is not None else None
        buckets = buckets_of(item)
        if buckets is None:
            position += 1
            report.reject(line or position, f"expected a {label} page with a 'data' list of buckets")
            continue
        first = 0
        if line is None and buckets == [item]:
            first, streamed = streamed, streamed + 1
        for b, bucket in enumerate(buckets, start=first):
            results = bucket.get("results", bucket.get("result")) if isinstance(bucket, dict) else None
            if not isinstance(results, list):
                position += 1
                report.reject(line or position, f"data[{b}]: expected a bucket with a 'results' list")
                continue
            if start_key not in bucket:
                position += len(results) or 1
                report.reject(line or position, f"data[{b}]: bucket without '{start_key}'")
                continue
            for r, rec in enumerate(results):
                position += 1
                try:
                    if not isinstance(rec, dict):
                        raise RowError("expected an object")
                    row = convert(org_id, rec, bucket)
                except RowError as exc:
                    report.reject(line or position, f"data[{b}].results[{r}]: {exc}")
                    continue
                if row is None:
                    report.skipped += 1
                else:
                    yield row
