"""Anthropic Admin API cost report (/v1/organizations/cost_report): billed cost lines, not usage.

A result is one day's `amount` for a workspace and description (when grouped by them), as a
decimal string in **cents** ("946.6" is $9.466), with `cost_type` (tokens, web_search,
code_execution, ...), `token_type`, `model`, `service_tier` and `context_window` when known.
Stored as cost lines (costlines.py). Identity: the bucket start and every group key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import RowError, parse_cost, parse_ts
from .costlines import cost_row
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

GROUP_KEYS = ("workspace_id", "description", "cost_type", "model", "token_type", "service_tier", "context_window",
              "inference_geo", "speed")


def cost_report_row(org_id: str, rec: Mapping[str, Any], bucket: Mapping[str, Any], repeats: Repeats) -> dict:
    currency = str(rec.get("currency") or "USD")
    if currency.upper() != "USD":
        raise RowError(f"amount in {currency!r}: only USD amounts are imported")
    cents = parse_cost(rec.get("amount"), "amount")
    if cents is None:
        raise RowError("missing amount")
    ts = parse_ts(bucket.get("starting_at"), "starting_at")
    line = " / ".join(str(rec[k]) for k in ("cost_type", "token_type") if rec.get(k)) or str(
        rec.get("description") or "")
    return cost_row(org_id, ts=ts, provider="anthropic", amount=cents / 100, model=str(rec.get("model") or ""),
                    feature=str(rec.get("workspace_id") or ""), line=line,
                    service_tier=str(rec.get("service_tier") or "").lower(),
                    source_id=repeats(source_key("anthropic-cost", ts.isoformat(), *(rec.get(k) for k in GROUP_KEYS))))


def parse_cost_report(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_buckets(raw, org_id, report, head, label="Anthropic cost report", start_key="starting_at",
                         convert=lambda o, rec, bucket: cost_report_row(o, rec, bucket, repeats))


def _sniff(head: Head) -> bool:
    return (head.is_json and head.has_key("starting_at") and head.has_key("amount") and head.has_key("currency")
            and not head.has_key("uncached_input_tokens"))


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    return row_batches(lambda r, o, rep: parse_cost_report(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="anthropic-cost",
    label="Anthropic cost report (Admin API /v1/organizations/cost_report JSON; amounts in cents)",
    sniff=_sniff,
    parse=_parse,
    aliases=("anthropic-cost-report",),
    identity="bucket starting_at and every group key (workspace_id, description, cost_type, model, token_type, ...)",
)
