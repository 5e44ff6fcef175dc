"""OpenAI organization usage: Usage API completions pages (any grouping), the OpenAI cookbook's saved
list of buckets, and the usage dashboard's export (CSV or TSV).

A result is one time bucket of one group: `num_model_requests` calls, `input_tokens` (cached
included), `input_cached_tokens`, `output_tokens`, audio (and in the dashboard export image)
tokens, and the group keys asked for (`project_id`, `user_id`, `api_key_id`, `model`, `batch`,
`service_tier`). Without `group_by=model` (the API's default) `model` is null: such usage is
stored with the model unknown, counted but not priced, and the report says what that costs.
Identity: the bucket start and every group key, the same from a file as from the connector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import UNKNOWN_MODEL, build_row, parse_bool, parse_count, parse_ts
from .generic import parse_csv
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

# Usage API result fields and the dashboard export's columns.
RESULT_KEYS = {
    "object", "start_time", "end_time", "start_time_iso", "end_time_iso", "project_id", "num_model_requests",
    "user_id", "api_key_id", "model", "batch", "service_tier", "input_tokens", "output_tokens",
    "input_cached_tokens", "input_uncached_tokens", "input_text_tokens", "output_text_tokens",
    "input_cached_text_tokens", "input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens",
    "input_image_tokens", "input_cached_image_tokens", "output_image_tokens",
}


def _count(rec: Mapping[str, Any], key: str) -> int:
    return parse_count(rec.get(key), key)


def openai_row(org_id: str, rec: Mapping[str, Any], bucket: Mapping[str, Any] | None = None,
               repeats: Repeats | None = None) -> dict | None:
    start = rec.get("start_time", (bucket or {}).get("start_time"))
    if _blank(rec):
        return None  # a day without usage in the dashboard export
    ts = parse_ts(start, "start_time")
    model = str(rec.get("model") or "").strip() or UNKNOWN_MODEL
    batch = parse_bool(rec.get("batch"), "batch")
    tier = str(rec.get("service_tier") or "").strip().lower()
    input_tokens = _count(rec, "input_tokens")
    cached_audio = _count(rec, "input_cached_audio_tokens")
    cached_image = _count(rec, "input_cached_image_tokens")
    extras = {
        "input_audio_tokens": _count(rec, "input_audio_tokens") + cached_audio,
        "cache_audio_read_tokens": cached_audio,
        "output_audio_tokens": _count(rec, "output_audio_tokens"),
        "input_image_tokens": _count(rec, "input_image_tokens") + cached_image,
        "cache_image_read_tokens": cached_image,
        "output_image_tokens": _count(rec, "output_image_tokens"),
    }
    key = (repeats or Repeats())(source_key(
        "openai-usage", int(ts.timestamp()), rec.get("project_id"), rec.get("user_id"), rec.get("api_key_id"),
        rec.get("model"), rec.get("batch"), rec.get("service_tier")))
    return build_row(
        org_id,
        ts=ts,
        model=model,
        provider="openai",
        # A project is the unit OpenAI lets teams split spend by: the closest to a feature.
        feature=str(rec.get("project_id") or ""),
        user=str(rec.get("user_id") or rec.get("api_key_id") or ""),
        api_key_id=str(rec.get("api_key_id") or ""),
        input_tokens=input_tokens,
        output_tokens=_count(rec, "output_tokens"),
        cached_input_tokens=_count(rec, "input_cached_tokens"),
        is_batch=batch,
        service_tier="batch" if batch else tier,
        requests=parse_count(rec.get("num_model_requests"), "num_model_requests", 1),
        source_id=key,
        extras=extras,
    )


def _blank(rec: Mapping[str, Any]) -> bool:
    return all(rec.get(k) in (None, "") for k in ("model", "input_tokens", "output_tokens", "num_model_requests"))


def parse_openai_json(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_buckets(raw, org_id, report, head, label="OpenAI usage export", start_key="start_time",
                         convert=lambda o, rec, bucket: openai_row(o, rec, bucket, repeats))


def _openai_column(name: str) -> str:
    key = name.strip().lower().lstrip("\ufeff")
    return {"project": "project_id", "requests": "num_model_requests"}.get(key, key)


def parse_openai_csv(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_csv(raw, org_id, report, convert=lambda o, rec: openai_row(o, rec, None, repeats),
                     required=("start_time",), aliases=_openai_column,
                     delimiter=head.delimiter, known=RESULT_KEYS)


def _sniff(head: Head) -> bool:
    if head.is_json:
        return b'"organization.usage.completions' in head.text or (
            head.has_key("num_model_requests") and head.has_key("start_time"))
    return {"start_time", "num_model_requests"} <= head.columns(_openai_column)


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    parser = parse_openai_json if head.is_json else parse_openai_csv
    return row_batches(lambda r, o, rep: parser(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="openai",
    label="OpenAI usage (Usage API completions pages or buckets, grouped or not; the usage dashboard's CSV/TSV export)",
    sniff=_sniff,
    parse=_parse,
    aliases=("openai-usage",),
    identity="bucket start_time and every group key (project_id, user_id, api_key_id, model, batch, service_tier)",
    model_hint="export with group_by=model (the Usage API's default groups nothing), or add an OpenAI connector, "
               "which always groups by model",
)
