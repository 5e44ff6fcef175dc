"""Anthropic Console cost export (Usage -> Export, dollars) as CSV: billed cost lines, not usage.

One line per day, model display name (`Claude Haiku 4.5`), workspace, key and `token_type`, with
`cost_usd` (and `list_price_usd`, `cost_type`, `api_key_id` in later layouts: 7-, 9-, 12- and
14-column layouts are read by name). Stored as cost lines (costlines.py) with the display name
mapped to the API id where the price tables know it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import RowError, parse_cost, parse_ts
from .costlines import cost_row, model_from_display_name
from .generic import parse_csv
from .registry import BATCH_ROWS, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

COST_KEYS = ("usage_date_utc", "model", "workspace", "api_key", "api_key_id", "usage_type", "context_window",
             "token_type", "cost_type", "inference_geo", "speed")
COST_COLUMNS = {*COST_KEYS, "cost_usd", "list_price_usd", "api_key_status"}


def _name(header: str) -> str:
    return header.strip().lstrip("\ufeff").lower()


def console_cost_row(org_id: str, rec: Mapping[str, Any], repeats: Repeats) -> dict:
    stated = parse_cost(rec.get("cost_usd"))
    if stated is None:
        raise RowError("missing cost_usd")
    ts = parse_ts(rec.get("usage_date_utc"), "usage_date_utc")
    display = str(rec.get("model") or "").strip()
    line = " / ".join(str(rec[k]) for k in ("cost_type", "token_type") if rec.get(k))
    return cost_row(org_id, ts=ts, provider="anthropic", amount=stated,
                    model=model_from_display_name("anthropic", display) if display else "",
                    feature=str(rec.get("workspace") or ""), user=str(rec.get("api_key") or ""),
                    api_key_id=str(rec.get("api_key_id") or rec.get("api_key") or ""), line=line,
                    source_id=repeats(source_key("anthropic-console-cost", ts.isoformat(),
                                                 *(rec.get(k) for k in COST_KEYS[1:]))))


def _cost(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_csv(raw, org_id, report, convert=lambda o, rec: console_cost_row(o, rec, repeats),
                     required=("usage_date_utc", "cost_usd"),
                     aliases=_name, delimiter=head.delimiter, known=COST_COLUMNS)


FORMAT = ImportFormat(
    name="anthropic-console-cost",
    label="Anthropic Console cost export (CSV: usage_date_utc, model, ..., token_type, cost_usd)",
    sniff=lambda head: {"usage_date_utc", "model", "token_type", "cost_usd"} <= head.columns(_name),
    parse=lambda raw, org_id, report, head: row_batches(
        lambda r, o, rep: _cost(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head),
    aliases=("claude-console-cost",),
    identity="the day and every label column (model, workspace, api_key, usage_type, context_window, token_type, ...)",
)
