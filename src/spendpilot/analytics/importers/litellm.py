"""LiteLLM proxy spend logs (the LiteLLM_SpendLogs table: /spend/logs JSON, or the same rows as CSV).

One record is one call through the proxy: `startTime`/`endTime`, `model` (possibly prefixed with
its provider, `anthropic/claude-...`), `custom_llm_provider`, `prompt_tokens`, `completion_tokens`,
`spend` (LiteLLM's own price), `user`/`end_user`, `team_id`, `metadata` and `request_tags`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from ..rows import RowError, build_row, normalize_status, parse_cost, parse_count, parse_ts
from .generic import parse_csv
from .jsondoc import object_rows
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

IDENTIFYING = {"request_id", "spend", "starttime"}


def _json_field(value: Any) -> dict:
    """metadata arrives as an object (JSON export) or as JSON text (CSV export)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _model(rec: Mapping[str, Any], provider: str) -> str:
    model = str(rec.get("model") or rec.get("model_group") or "").strip()
    if not model:
        raise RowError("missing model")
    # The proxy logs the routed name, e.g. "anthropic/claude-3-5-sonnet" or "openai/gpt-4o".
    prefix, slash, rest = model.partition("/")
    if slash and rest and prefix.lower() == provider:
        return rest
    return model


def _status(rec: Mapping[str, Any], metadata: dict) -> str:
    status = normalize_status(rec.get("status") or metadata.get("status"))
    error = metadata.get("error_information")
    code = str(error.get("error_code") or "") if isinstance(error, dict) else ""
    # A failure's HTTP code says more than "failure": a 429 is rate limiting, a 408/504 a timeout.
    return normalize_status(code) if status == "error" and code else status


def litellm_row(org_id: str, rec: Mapping[str, Any]) -> dict:
    provider = str(rec.get("custom_llm_provider") or "").strip().lower()
    model = _model(rec, provider)
    start = parse_ts(rec.get("startTime") or rec.get("starttime"), "startTime")
    end_value = rec.get("endTime") or rec.get("endtime")
    latency = None
    if end_value:
        end = parse_ts(end_value, "endTime")
        latency = max(0, round((end - start).total_seconds() * 1000))
    metadata = _json_field(rec.get("metadata"))
    usage = _json_field(metadata.get("usage_object"))
    details = _json_field(usage.get("prompt_tokens_details"))
    labels = _json_field(metadata.get("spend_logs_metadata"))
    input_tokens = parse_count(rec.get("prompt_tokens"), "prompt_tokens") or 0
    cached = parse_count(details.get("cached_tokens") or usage.get("cache_read_input_tokens"), "cached_tokens") or 0
    # A hit in LiteLLM's own cache never reached the provider: nothing was billed for it.
    served_from_cache = str(rec.get("cache_hit") or "").strip().lower() == "true"
    request_id = str(rec.get("request_id") or "").strip()
    if not request_id:
        raise RowError("missing request_id")
    tags = _json_list(rec.get("request_tags"))
    return build_row(
        org_id,
        ts=start,
        model=model,
        provider=provider,
        # The caller's own feature label first; else the team, how LiteLLM deployments split spend.
        feature=str(labels.get("feature") or metadata.get("user_api_key_team_alias") or rec.get("team_id") or ""),
        user=str(rec.get("end_user") or rec.get("user") or ""),
        input_tokens=input_tokens,
        output_tokens=parse_count(rec.get("completion_tokens"), "completion_tokens") or 0,
        cached_input_tokens=min(cached, input_tokens),
        cache_write_tokens=parse_count(usage.get("cache_creation_input_tokens"), "cache_creation_input_tokens") or 0,
        latency_ms=latency,
        status=_status(rec, metadata),
        cost_usd=0.0 if served_from_cache else None,
        # LiteLLM's own price, kept beside ours (and used when our tables do not know the model).
        stated_cost_usd=parse_cost(rec.get("spend"), "spend"),
        source_id=source_key("litellm", request_id),
        api_key_id=str(rec.get("api_key") or ""),
        tags=({"request_tags": ",".join(tags)} if tags else {}) | (
            {"team": str(metadata["user_api_key_team_alias"])} if metadata.get("user_api_key_team_alias") else {}),
    )


def _json_list(value: Any) -> list[str]:
    """request_tags arrive as a list (JSON export) or as JSON text (CSV export)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return []
    return [str(v) for v in value if isinstance(v, (str, int))] if isinstance(value, list) else []


def parse_litellm_json(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    return object_rows(raw, head, "LiteLLM spend logs", "a spend log object", lambda rec: litellm_row(org_id, rec),
                       report)


def parse_litellm_csv(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    return parse_csv(raw, org_id, report, convert=litellm_row, required=("startTime", "model"),
                     aliases=lambda name: name.strip().lstrip("\ufeff"), delimiter=head.delimiter)


def _sniff(head: Head) -> bool:
    if head.is_json:
        first = head.first_record or {}
        return {"request_id", "spend", "startTime"} <= set(first)
    return IDENTIFYING <= {c.lower() for c in head.columns(lambda name: name.strip())}


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    parser = parse_litellm_json if head.is_json else parse_litellm_csv
    return row_batches(lambda r, o, rep: parser(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="litellm",
    label="LiteLLM proxy spend logs (LiteLLM_SpendLogs rows from /spend/logs, JSON or CSV)",
    sniff=_sniff,
    parse=_parse,
    aliases=("litellm-spend-logs", "spendlogs"),
    identity="request_id (the spend log's primary key)",
)
