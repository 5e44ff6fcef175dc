"""Anthropic Admin API usage report (/v1/organizations/usage_report/messages) pages.

A result is one time bucket of one group: `uncached_input_tokens`, `cache_creation`
(5-minute and 1-hour writes, billed differently), `cache_read_input_tokens`, `output_tokens`,
`server_tool_use.web_search_requests` ($10 per 1,000), and the group keys asked for (`model`,
`api_key_id`, `workspace_id`, `service_tier`, `context_window`, `inference_geo`, `speed`); keys not
grouped by come back null (a null tier is "not grouped", not batch). Buckets hold many calls and no
call count, so they are priced at base rates, unless `context_window` says every call was long.
Identity: the bucket start and every group key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ..rows import UNKNOWN_MODEL, RowError, build_row, parse_count, parse_ts
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

GROUP_KEYS = ("model", "api_key_id", "workspace_id", "service_tier", "context_window", "inference_geo", "speed")


def long_context(window: Any) -> bool:
    """Whether a usage line's context window is above the 200k long-context threshold."""
    text = str(window or "").replace(" ", "").lower()
    return text.startswith((">", "200k-")) or text == "1m"


def anthropic_usage_row(org_id: str, *, ts: datetime, model: str, uncached: int, written_5m: int, written_1h: int,
                        read: int, output: int, web_searches: int, tier: str, window: Any, feature: str,
                        user: str, api_key_id: str, source_id: str, speed: str = "") -> dict:
    """One Anthropic usage line as a row; our input_tokens counts every input token, cache reads and
    writes included."""
    tier = (tier or "").strip().lower()
    fast = (speed or "").strip().lower() == "fast"
    return build_row(
        org_id,
        ts=ts,
        model=model or UNKNOWN_MODEL,
        provider="anthropic",
        feature=feature,
        user=user,
        api_key_id=api_key_id,
        input_tokens=uncached + read + written_5m + written_1h,
        cached_input_tokens=read,
        cache_write_tokens=written_5m + written_1h,
        output_tokens=output,
        is_batch=int(tier == "batch"),
        service_tier="fast" if fast else tier,
        # The report does not say how many calls a bucket holds.
        requests=0,
        calls_for_tiers=1 if long_context(window) else 0,
        extras={"cache_write_1h_tokens": written_1h, "web_searches": web_searches},
        source_id=source_id,
    )


def anthropic_row(org_id: str, rec: Mapping[str, Any], bucket: Mapping[str, Any], repeats: Repeats) -> dict:
    creation = rec.get("cache_creation") or {}
    tools = rec.get("server_tool_use") or {}
    if not isinstance(creation, dict) or not isinstance(tools, dict):
        raise RowError("cache_creation and server_tool_use must be objects")
    starting_at = bucket.get("starting_at")
    ts = parse_ts(starting_at, "starting_at")
    return anthropic_usage_row(
        org_id,
        ts=ts,
        model=str(rec.get("model") or "").strip(),
        uncached=parse_count(rec.get("uncached_input_tokens"), "uncached_input_tokens"),
        written_5m=parse_count(creation.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens"),
        written_1h=parse_count(creation.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens"),
        read=parse_count(rec.get("cache_read_input_tokens"), "cache_read_input_tokens"),
        output=parse_count(rec.get("output_tokens"), "output_tokens"),
        web_searches=parse_count(tools.get("web_search_requests"), "web_search_requests"),
        tier=str(rec.get("service_tier") or ""),
        speed=str(rec.get("speed") or ""),
        window=rec.get("context_window"),
        feature=str(rec.get("workspace_id") or ""),
        user=str(rec.get("api_key_id") or ""),
        api_key_id=str(rec.get("api_key_id") or ""),
        source_id=repeats(source_key("anthropic-usage", ts.isoformat(), *(rec.get(k) for k in GROUP_KEYS))),
    )


def parse_anthropic(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_buckets(raw, org_id, report, head, label="Anthropic usage report", start_key="starting_at",
                         convert=lambda o, rec, bucket: anthropic_row(o, rec, bucket, repeats))


def _sniff(head: Head) -> bool:
    return head.is_json and head.has_key("starting_at") and head.has_key("uncached_input_tokens",
                                                                           "cache_read_input_tokens")


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    return row_batches(lambda r, o, rep: parse_anthropic(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="anthropic",
    label="Anthropic usage report (Admin API /v1/organizations/usage_report/messages JSON)",
    sniff=_sniff,
    parse=_parse,
    aliases=("anthropic-usage",),
    identity="bucket starting_at and every group key (model, api_key_id, workspace_id, service_tier, "
             "context_window, inference_geo, speed)",
    model_hint="request the report with group_by[]=model, or add an Anthropic connector, which always groups by model",
)
