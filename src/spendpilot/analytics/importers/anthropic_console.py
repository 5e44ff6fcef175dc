"""Anthropic Console usage export (Usage -> Export, tokens) as CSV.

Columns: `usage_date_utc` (a day, an hour `2026-03-31 02:00` or a minute), `model_version` (an API
id), `api_key` (a key's name), `workspace`, `usage_type` (standard, batch), then tokens by kind:
`usage_input_tokens_no_cache`, `..._cache_write_5m`, `..._cache_write_1h`, `..._cache_read`,
`usage_output_tokens`, `web_search_count`. Later layouts add `context_window` (`≤ 200k`,
`> 200k`), `inference_geo` and `speed`; columns are read by name, so the 11-, 12- and 14-column
layouts (and partial ones without cache columns) all import. Identity: every column but the counts.
The Console's cost export is anthropic_console_cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import parse_count, parse_ts
from .anthropic import anthropic_usage_row
from .generic import parse_csv
from .registry import BATCH_ROWS, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

USAGE_COUNTS = ("usage_input_tokens_no_cache", "usage_input_tokens_cache_write_5m", "usage_input_tokens_cache_write_1h",
                "usage_input_tokens_cache_read", "usage_output_tokens", "web_search_count")
USAGE_KEYS = ("usage_date_utc", "model_version", "api_key", "workspace", "usage_type", "context_window",
              "inference_geo", "speed")


def _name(header: str) -> str:
    return header.strip().lstrip("\ufeff").lower()


def console_usage_row(org_id: str, rec: Mapping[str, Any], repeats: Repeats) -> dict:
    ts = parse_ts(rec.get("usage_date_utc"), "usage_date_utc")
    count = {k: parse_count(rec.get(k), k) for k in USAGE_COUNTS}
    return anthropic_usage_row(
        org_id,
        ts=ts,
        model=str(rec.get("model_version") or "").strip(),
        uncached=count["usage_input_tokens_no_cache"],
        written_5m=count["usage_input_tokens_cache_write_5m"],
        written_1h=count["usage_input_tokens_cache_write_1h"],
        read=count["usage_input_tokens_cache_read"],
        output=count["usage_output_tokens"],
        web_searches=count["web_search_count"],
        tier=str(rec.get("usage_type") or ""),
        speed=str(rec.get("speed") or ""),
        window=rec.get("context_window"),
        feature=str(rec.get("workspace") or ""),
        user=str(rec.get("api_key") or ""),
        api_key_id=str(rec.get("api_key") or ""),
        source_id=repeats(source_key("anthropic-console", ts.isoformat(), *(rec.get(k) for k in USAGE_KEYS[1:]))),
    )


def _usage(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_csv(raw, org_id, report, convert=lambda o, rec: console_usage_row(o, rec, repeats),
                     required=("usage_date_utc", "model_version"),
                     aliases=_name, delimiter=head.delimiter, known={*USAGE_KEYS, *USAGE_COUNTS})


FORMAT = ImportFormat(
    name="anthropic-console",
    label="Anthropic Console usage export (CSV: usage_date_utc, model_version, usage_input_tokens_...)",
    sniff=lambda head: {"usage_date_utc", "model_version"} <= head.columns(_name)
    and any(c.startswith("usage_input_tokens") or c == "usage_output_tokens" for c in head.columns(_name)),
    parse=lambda raw, org_id, report, head: row_batches(
        lambda r, o, rep: _usage(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head),
    aliases=("anthropic-console-usage", "claude-console"),
    identity="the bucket (usage_date_utc) and every label column (model, api_key, workspace, usage_type, "
             "context_window, inference_geo, speed)",
)
