"""The generic format: CSV with a header, or JSON Lines, using llm_usage's column names."""

from __future__ import annotations

import csv
from typing import Callable, Iterator, Mapping

import orjson

from ..rows import RowError, build_row, normalize_status, parse_bool, parse_cost, parse_count, parse_ts
from .report import ImportFormatError, ImportReport
from .source import CountingReader, numbered_lines, text_stream

# Other common spellings of the columns, as exported by gateways and loggers.
ALIASES = {
    "timestamp": "ts",
    "time": "ts",
    "created_at": "ts",
    "date": "ts",
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "cached_tokens": "cached_input_tokens",
    "cache_read_input_tokens": "cached_input_tokens",
    "cost": "cost_usd",
    "latency": "latency_ms",
    "duration_ms": "latency_ms",
    "user_id": "user",
    "num_requests": "requests",
}
REQUIRED = ("ts", "model")


def canonical_column(name: str) -> str:
    key = name.strip().lower().lstrip("\ufeff")
    return ALIASES.get(key, key)


def generic_row(org_id: str, rec: Mapping[str, object]) -> dict:
    """A stored row from one record keyed by (canonical) column names."""
    get = rec.get
    input_tokens = parse_count(get("input_tokens"), "input_tokens")
    output_tokens = parse_count(get("output_tokens"), "output_tokens")
    return build_row(
        org_id,
        ts=parse_ts(get("ts")),
        model=str(get("model") or ""),
        provider=str(get("provider") or ""),
        user=str(get("user") or ""),
        feature=str(get("feature") or ""),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=parse_count(get("cached_input_tokens"), "cached_input_tokens"),
        latency_ms=parse_count(get("latency_ms"), "latency_ms", None),
        status=normalize_status(get("status")),
        is_batch=parse_bool(get("is_batch"), "is_batch"),
        prompt_hash=str(get("prompt_hash") or ""),
        prompt_prefix_hash=str(get("prompt_prefix_hash") or ""),
        prompt_prefix_tokens=parse_count(get("prompt_prefix_tokens"), "prompt_prefix_tokens"),
        max_tokens=parse_count(get("max_tokens"), "max_tokens", None),
        requests=parse_count(get("requests"), "requests", 1),
        cost_usd=parse_cost(get("cost_usd")),
    )


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
            yield convert(org_id, dict(zip(columns, fields)))
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
