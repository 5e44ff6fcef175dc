"""OpenAI billed costs: Costs API pages (/v1/organization/costs) and the usage dashboard's cost export.

A result is one day's amount (dollars, unlike Anthropic's cents) for a line item (`"gpt-4o-2024-08-06,
input"`, or null when not grouped) and project: stored as a cost line (costlines.py). Identity:
the bucket start, project and line item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import RowError, parse_cost, parse_ts
from .costlines import cost_row
from .generic import parse_csv
from .jsondoc import parse_buckets
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

CSV_COLUMNS = {"start_time", "end_time", "start_time_iso", "end_time_iso", "amount_value", "amount_currency",
               "line_item", "project_id", "organization_id", "organization_name"}


def _line_model(line_item: str) -> str:
    """The model a line item names: `gpt-4o-2024-08-06, input` -> `gpt-4o-2024-08-06`."""
    return line_item.split(",", 1)[0].strip() if "," in line_item else ""


def costs_row(org_id: str, rec: Mapping[str, Any], bucket: Mapping[str, Any] | None,
              repeats: Repeats) -> dict | None:
    amount = rec.get("amount")
    value, currency = (amount.get("value"), amount.get("currency")) if isinstance(amount, dict) else (
        rec.get("amount_value"), rec.get("amount_currency"))
    if value in (None, "") and not rec.get("line_item"):
        return None  # a day without cost in the dashboard export
    if str(currency or "usd").lower() != "usd":
        raise RowError(f"amount in {currency!r}: only USD amounts are imported")
    stated = parse_cost(value, "amount")
    if stated is None:
        raise RowError("missing amount")
    ts = parse_ts(rec.get("start_time", (bucket or {}).get("start_time")), "start_time")
    line = str(rec.get("line_item") or "")
    return cost_row(org_id, ts=ts, provider="openai", amount=stated, model=_line_model(line), line=line,
                    feature=str(rec.get("project_id") or ""),
                    source_id=repeats(source_key("openai-costs", int(ts.timestamp()), rec.get("project_id"),
                                                 rec.get("line_item"))))


def _parse_json(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_buckets(raw, org_id, report, head, label="OpenAI costs", start_key="start_time",
                         convert=lambda o, rec, bucket: costs_row(o, rec, bucket, repeats))


def _parse_csv(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_csv(raw, org_id, report, convert=lambda o, rec: costs_row(o, rec, None, repeats),
                     required=("start_time",
                     "amount_value"), aliases=lambda n: n.strip().lower().lstrip("\ufeff"),
                     delimiter=head.delimiter, known=CSV_COLUMNS)


def _sniff(head: Head) -> bool:
    if head.is_json:
        return b'"organization.costs.result"' in head.text or (head.has_key("amount") and head.has_key("line_item"))
    return {"start_time", "amount_value", "line_item"} <= head.columns()


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    parser = _parse_json if head.is_json else _parse_csv
    return row_batches(lambda r, o, rep: parser(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="openai-costs",
    label="OpenAI billed costs (Costs API pages, or the usage dashboard's cost export CSV)",
    sniff=_sniff,
    parse=_parse,
    aliases=("openai-cost",),
    identity="bucket start_time, project_id and line_item",
)
