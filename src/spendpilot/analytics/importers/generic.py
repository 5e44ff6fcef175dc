"""The generic format: delimited text with a header (comma, tab, semicolon), or JSON records
(JSON Lines, an array, or an object wrapping a list; pretty-printed or not), using llm_usage's
column names or their common spellings (see columns.ALIASES)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping

from ..rows import RowError
from .columns import IGNORED, KNOWN, REQUIRED, canonical_column, check_columns, decimal_commas, generic_row
from .fastcsv import csv_batches
from .jsondoc import iter_items
from .registry import BATCH_ROWS, Batches, Head, ImportFormat
from .report import ImportFormatError, ImportReport
from .source import CountingReader, text_stream

MAX_UNKNOWN_LISTED = 50


def parse_csv(
    raw: CountingReader,
    org_id: str,
    report: ImportReport,
    convert: Callable[[str, Mapping[str, object]], dict | None] = generic_row,
    required: tuple[str, ...] = REQUIRED,
    aliases: Callable[[str], str] = canonical_column,
    delimiter: str = ",",
    known: set[str] | None = None,
) -> Iterator[dict]:
    """Rows of a delimited file, one record at a time, through ``convert`` (which may return None for a
    record that is not usage, counted as skipped). Columns outside ``known`` are reported."""
    reader = csv.reader(text_stream(raw), delimiter=delimiter)
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
    if known is not None:
        report.unknown_columns.extend(h.strip() for h, c in zip(header, columns, strict=True)
                                      if c not in known and h.strip())
    width = len(columns)
    commas = delimiter == ";"
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
        if commas:
            fields = decimal_commas(fields)
        try:
            row = convert(org_id, dict(zip(columns, fields, strict=True)))
        except RowError as exc:
            report.reject(reader.line_num, str(exc))
            continue
        if row is None:
            report.skipped += 1
        else:
            yield row


def parse_json(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    unknown: set[str] = set()
    for line, rec in iter_items(raw, head, "generic JSON", report):
        if not isinstance(rec, dict):
            report.reject(line, "expected a JSON object")
            continue
        record = {canonical_column(k): v for k, v in rec.items()}
        if len(unknown) < MAX_UNKNOWN_LISTED:
            for key in rec:
                name = canonical_column(key)
                if name not in KNOWN and name not in IGNORED and key not in unknown:
                    unknown.add(key)
                    report.unknown_columns.append(key)
        try:
            yield generic_row(org_id, record)
        except RowError as exc:
            report.reject(line, str(exc))


def _sniff(head: Head) -> bool:
    if head.is_json:
        first = head.first_record
        return first is not None and set(REQUIRED) <= {canonical_column(k) for k in first}
    return set(REQUIRED) <= head.columns(canonical_column)


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    if head.is_json:
        return _batches(parse_json(raw, org_id, report, head))
    columns = [canonical_column(h) for h in head.header]
    check_columns(head.header, columns, report.unknown_columns)
    return csv_batches(raw, org_id, report, delimiter=head.delimiter)


def _batches(rows: Iterator[dict]) -> Batches:
    from itertools import islice

    while batch := list(islice(rows, BATCH_ROWS)):
        yield batch


FORMAT = ImportFormat(
    name="generic",
    label="generic CSV, TSV or JSON (Lines, array or object) with llm_usage's columns (at least ts and model)",
    sniff=_sniff,
    parse=_parse,
    aliases=("csv", "jsonl", "ndjson", "json", "tsv"),
    identity="the source_id column when present (also request_id or id); otherwise the row's content and its "
             "occurrence in the file, so identical calls are all kept and re-importing the file adds nothing",
)
