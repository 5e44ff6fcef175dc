"""llm_usage's own column names, the other spellings gateways and loggers use, and a record keyed by them as a row."""

from __future__ import annotations

from collections.abc import Mapping

from ..rows import build_row, normalize_status, parse_bool, parse_cost, parse_count, parse_ts

# Other common spellings of the columns, as exported by gateways and loggers.
ALIASES = {
    "timestamp": "ts",
    "time": "ts",
    "created_at": "ts",
    "date": "ts",
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "cached_tokens": "cached_input_tokens",
    "cache_read_input_tokens": "cached_input_tokens",
    "cost": "cost_usd",
    "latency": "latency_ms",
    "duration_ms": "latency_ms",
    "user_id": "user",
    "num_requests": "requests",
}
REQUIRED = ("ts", "model")


def canonical_column(name: str) -> str:
    key = name.strip().lower().lstrip("\ufeff")
    return ALIASES.get(key, key)


def generic_row(org_id: str, rec: Mapping[str, object]) -> dict:
    """A stored row from one record keyed by (canonical) column names."""
    get = rec.get
    input_tokens = parse_count(get("input_tokens"), "input_tokens")
    output_tokens = parse_count(get("output_tokens"), "output_tokens")
    return build_row(
        org_id,
        ts=parse_ts(get("ts")),
        model=str(get("model") or ""),
        provider=str(get("provider") or ""),
        user=str(get("user") or ""),
        feature=str(get("feature") or ""),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=parse_count(get("cached_input_tokens"), "cached_input_tokens"),
        latency_ms=parse_count(get("latency_ms"), "latency_ms", None),
        status=normalize_status(get("status")),
        is_batch=parse_bool(get("is_batch"), "is_batch"),
        prompt_hash=str(get("prompt_hash") or ""),
        prompt_prefix_hash=str(get("prompt_prefix_hash") or ""),
        prompt_prefix_tokens=parse_count(get("prompt_prefix_tokens"), "prompt_prefix_tokens"),
        max_tokens=parse_count(get("max_tokens"), "max_tokens", None),
        requests=parse_count(get("requests"), "requests", 1),
        cost_usd=parse_cost(get("cost_usd")),
    )
