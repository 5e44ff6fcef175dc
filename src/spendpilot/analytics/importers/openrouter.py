"""OpenRouter: the activity export (CSV, one line per day and model) and generation records (JSON).

Activity export: `Date`, `Slug` (OpenRouter's model slug, `anthropic/claude-opus-4.7`), `Usage`
(what OpenRouter charged, credits ~ USD), `BYOK Usage`, `Requests`, `Prompt Tokens`, `Completion
Tokens`, `Reasoning Tokens` (part of completion). Identity: (Date, Slug).

Generation API (`GET /api/v1/generation?id=`, `{"data": {...}}`, one object, an array or JSON
Lines of them): `id`, `model`, `provider_name` (the upstream that served it), `native_tokens_*`
(the upstream's own counts, which it bills), `total_cost`, `latency`, `created_at`,
`service_tier`, `external_user`. Identity: `id`.

Both state OpenRouter's own price; ours (genai-prices' OpenRouter tables) is kept beside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..rows import RowError, build_row, normalize_status, parse_cost, parse_count, parse_ts
from .generic import parse_csv
from .jsondoc import object_rows
from .registry import BATCH_ROWS, Batches, Head, ImportFormat, Repeats, row_batches, source_key
from .report import ImportReport
from .source import CountingReader

ACTIVITY_COLUMNS = {"date", "slug", "usage", "byok_usage", "requests", "prompt_tokens", "completion_tokens",
                    "reasoning_tokens"}


def _column(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower().replace(" ", "_")


def activity_row(org_id: str, rec: Mapping[str, Any], repeats: Repeats) -> dict:
    ts = parse_ts(rec.get("date"), "Date")
    slug = str(rec.get("slug") or "").strip()
    return build_row(
        org_id,
        ts=ts,
        model=slug,
        provider="openrouter",
        input_tokens=parse_count(rec.get("prompt_tokens"), "Prompt Tokens"),
        output_tokens=parse_count(rec.get("completion_tokens"), "Completion Tokens"),
        requests=parse_count(rec.get("requests"), "Requests", 0),
        stated_cost_usd=parse_cost(rec.get("usage"), "Usage"),
        source_id=repeats(source_key("openrouter-activity", ts.isoformat(), slug)),
    )


def generation_row(org_id: str, rec: Mapping[str, Any]) -> dict:
    rec = rec.get("data") if isinstance(rec.get("data"), dict) else rec  # type: ignore[assignment]
    gen_id = str(rec.get("id") or "").strip()
    if not gen_id:
        raise RowError("missing id")
    prompt = parse_count(rec.get("native_tokens_prompt", rec.get("tokens_prompt")), "native_tokens_prompt")
    cached = parse_count(rec.get("native_tokens_cached"), "native_tokens_cached")
    upstream = str(rec.get("provider_name") or "")
    return build_row(
        org_id,
        ts=parse_ts(rec.get("created_at"), "created_at"),
        model=str(rec.get("model") or ""),
        provider="openrouter",
        user=str(rec.get("external_user") or ""),
        input_tokens=prompt,
        cached_input_tokens=min(cached, prompt),
        output_tokens=parse_count(rec.get("native_tokens_completion", rec.get("tokens_completion")),
                                  "native_tokens_completion"),
        latency_ms=parse_count(rec.get("latency"), "latency", None),
        status="error" if rec.get("cancelled") is True else normalize_status("ok"),
        service_tier=str(rec.get("service_tier") or "").lower(),
        stated_cost_usd=parse_cost(rec.get("total_cost", rec.get("usage")), "total_cost"),
        source_id=source_key("openrouter", gen_id),
        tags={"upstream": upstream} if upstream else None,
    )


def _generations(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    return object_rows(raw, head, "OpenRouter generations", "a generation object",
                       lambda rec: generation_row(org_id, rec), report)


def _activity(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Iterator[dict]:
    repeats = Repeats()
    return parse_csv(raw, org_id, report, convert=lambda o, rec: activity_row(o, rec, repeats),
                     required=("date", "slug"), aliases=_column,
                     delimiter=head.delimiter, known=ACTIVITY_COLUMNS)


def _sniff(head: Head) -> bool:
    if head.is_json:
        first = head.first_record or {}
        return "native_tokens_prompt" in first or ("total_cost" in first and "tokens_prompt" in first)
    return {"date", "slug", "usage", "requests"} <= head.columns(_column)


def _parse(raw: CountingReader, org_id: str, report: ImportReport, head: Head) -> Batches:
    parser = _generations if head.is_json else _activity
    return row_batches(lambda r, o, rep: parser(r, o, rep, head), BATCH_ROWS)(raw, org_id, report, head)


FORMAT = ImportFormat(
    name="openrouter",
    label="OpenRouter activity export (CSV) or generation records (GET /api/v1/generation JSON)",
    sniff=_sniff,
    parse=_parse,
    identity="the generation id; for the activity export, the day and model slug",
)
