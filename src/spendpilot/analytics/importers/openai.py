"""OpenAI organization usage export (completions usage API pages, or the same as CSV)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import RowError, build_row, parse_bool, parse_count, parse_ts
from .generic import parse_csv
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, row_batches
from .report import ImportReport
from .source import CountingReader


def openai_row(org_id: str, rec: Mapping[str, Any], start_time: Any = None) -> dict:
    model = rec.get("model")
    if not model:
        raise RowError("missing model (export the usage grouped by model)")
    ts = parse_ts(rec.get("start_time", start_time), "start_time")
    input_tokens = parse_count(rec.get("input_tokens"), "input_tokens")
    return build_row(
        org_id,
        ts=ts,
        model=str(model),
        provider="openai",
        # A project is the unit OpenAI lets teams split spend by: the closest to a feature.
        feature=str(rec.get("project_id") or ""),
        user=str(rec.get("user_id") or rec.get("api_key_id") or ""),
        input_tokens=input_tokens,
        output_tokens=parse_count(rec.get("output_tokens"), "output_tokens"),
        cached_input_tokens=parse_count(rec.get("input_cached_tokens"), "input_cached_tokens"),
        is_batch=parse_bool(rec.get("batch"), "batch"),
        requests=parse_count(rec.get("num_model_requests"), "num_model_requests", 1),
    )


def parse_openai_json(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    return parse_buckets(raw, org_id, report, label="OpenAI usage export", start_key="start_time", convert=openai_row)


def _openai_column(name: str) -> str:
    key = name.strip().lower().lstrip("\ufeff")
    return {"start_time_iso": "start_time", "project": "project_id", "requests": "num_model_requests"}.get(key, key)


def parse_openai_csv(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    return parse_csv(
        raw, org_id, report, convert=openai_row, required=("start_time", "model"), aliases=_openai_column
    )


def _sniff(head: Head) -> bool:
    if head.is_json:
        return b"organization.usage.completions" in head.text or head.has_key("num_model_requests",
                                                                                 "input_cached_tokens")
    return bool({"num_model_requests", "input_cached_tokens"} & head.columns(_openai_column))


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    parser = parse_openai_json if head.is_json else parse_openai_csv
    return row_batches(parser, BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="openai",
    label="OpenAI organization usage export (Usage API completions JSON, or the same as CSV)",
    sniff=_sniff,
    parse=_parse,
    aliases=("openai-usage",),
)
