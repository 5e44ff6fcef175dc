"""The generic format: CSV with a header, or JSON Lines, using llm_usage's column names."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping

import orjson

from ..rows import RowError
from .columns import REQUIRED, canonical_column, generic_row
from .fastcsv import csv_batches
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, row_batches
from .report import ImportFormatError, ImportReport
from .source import CountingReader, numbered_lines, text_stream


def parse_csv(
    raw: CountingReader,
    org_id: str,
    report: ImportReport,
    convert: Callable[[str, Mapping[str, object]], dict] = generic_row,
    required: tuple[str, ...] = REQUIRED,
    aliases: Callable[[str], str] = canonical_column,
) -> Iterator[dict]:
    reader = csv.reader(text_stream(raw))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFormatError("the file is empty") from None
    except csv.Error as exc:
        raise ImportFormatError(f"the header is not readable CSV: {exc}") from None
    columns = [aliases(h) for h in header]
    missing = [c for c in required if c not in columns]
    if missing:
        raise ImportFormatError(
            f"CSV header lacks required column(s) {', '.join(missing)}; found: {', '.join(header)[:300]}"
        )
    width = len(columns)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.reject(reader.line_num, f"malformed CSV: {exc}")
            continue
        if len(fields) != width:
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            report.reject(reader.line_num, f"expected {width} fields, found {len(fields)}")
            continue
        try:
            yield convert(org_id, dict(zip(columns, fields, strict=True)))
        except RowError as exc:
            report.reject(reader.line_num, str(exc))


def parse_jsonl(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    for number, line in numbered_lines(raw):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.reject(number, f"invalid JSON: {exc}")
            continue
        if not isinstance(rec, dict):
            report.reject(number, "expected a JSON object")
            continue
        try:
            yield generic_row(org_id, {canonical_column(k): v for k, v in rec.items()})
        except RowError as exc:
            report.reject(number, str(exc))


def _sniff(head: Head) -> bool:
    if head.is_json:
        first = head.first_object
        return first is not None and set(REQUIRED) <= {canonical_column(k) for k in first}
    return set(REQUIRED) <= head.columns(canonical_column)


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    if head.is_json:
        return row_batches(parse_jsonl, BATCH_ROWS)(raw, org_id, report, head)
    return csv_batches(raw, org_id, report)


FORMAT = ImportFormat(
    name="generic",
    label="generic CSV or JSON Lines with llm_usage's columns (at least ts and model)",
    sniff=_sniff,
    parse=_parse,
    aliases=("csv", "jsonl", "ndjson"),
)
