"""Anthropic Admin API usage report (/v1/organizations/usage_report/messages) pages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..pricing import model_price, price_usage
from ..rows import RowError, build_row, parse_count, parse_ts
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, ImportFormat, row_batches
from .report import ImportReport
from .source import CountingReader


def anthropic_row(org_id: str, rec: Mapping[str, Any], starting_at: Any) -> dict:
    model = rec.get("model")
    if not model:
        raise RowError("missing model (request the report grouped by model)")
    creation = rec.get("cache_creation") or {}
    if not isinstance(creation, dict):
        raise RowError("cache_creation must be an object")
    written_1h = parse_count(creation.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens")
    written = parse_count(creation.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens") + written_1h
    uncached = parse_count(rec.get("uncached_input_tokens"), "uncached_input_tokens")
    cache_read = parse_count(rec.get("cache_read_input_tokens"), "cache_read_input_tokens")
    output = parse_count(rec.get("output_tokens"), "output_tokens")
    is_batch = 1 if str(rec.get("service_tier") or "").lower() == "batch" else 0
    cost = price_usage(
        "anthropic", str(model), uncached + cache_read + written, output, cache_read, bool(is_batch),
        cache_write_tokens=written, requests=0,
    )
    rates = model_price("anthropic", str(model))
    if cost is not None and rates and written_1h:
        # One-hour cache writes bill at twice the input rate, above the 5-minute write rate.
        write_rate = rates["cache_write_mtok"] or rates["input_mtok"]
        premium = written_1h * (2 * rates["input_mtok"] - write_rate) / 1_000_000
        cost += premium * (1 - rates["batch_discount"]) if is_batch else premium
    return build_row(
        org_id,
        ts=parse_ts(starting_at, "starting_at"),
        model=str(model),
        provider="anthropic",
        feature=str(rec.get("workspace_id") or ""),
        user=str(rec.get("api_key_id") or ""),
        # Our input_tokens counts every input token; cache reads and writes are parts of it.
        input_tokens=uncached + cache_read + written,
        cached_input_tokens=cache_read,
        cache_write_tokens=written,
        output_tokens=output,
        is_batch=is_batch,
        cost_usd=cost,
        # The report does not say how many calls a bucket holds.
        requests=0,
    )


def parse_anthropic(raw: CountingReader, org_id: str, report: ImportReport) -> Iterator[dict]:
    return parse_buckets(
        raw, org_id, report, label="Anthropic usage report", start_key="starting_at", convert=anthropic_row
    )


FORMAT = ImportFormat(
    name="anthropic",
    label="Anthropic usage report (Admin API /v1/organizations/usage_report/messages JSON)",
    sniff=lambda head: head.is_json and head.has_key("uncached_input_tokens", "cache_read_input_tokens",
                                                     "starting_at"),
    parse=row_batches(parse_anthropic, BATCH_ROWS),
    aliases=("anthropic-usage",),
)
