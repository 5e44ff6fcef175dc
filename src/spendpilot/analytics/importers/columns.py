"""llm_usage's own column names, the other spellings files use, and a record keyed by them as a row.

Headers are matched loosely: case, spaces, hyphens and a unit in parentheses do not matter
(`Input Tokens`, `Cost ($)`, `Kosten (USD)`), and the usual names of gateways, loggers and
spreadsheets in a few languages are understood. A column that matches nothing is reported by
the import, never silently read as zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..rows import RowError, build_row, normalize_status, parse_bool, parse_cost, parse_count, parse_ts

# Other common spellings of the columns, as exported by gateways, loggers and spreadsheets.
ALIASES = {
    "timestamp": "ts", "time": "ts", "created_at": "ts", "date": "ts", "datetime": "ts", "start_time": "ts",
    "timestamp_utc": "ts", "date_utc": "ts", "request_time": "ts",
    "model_name": "model", "model_id": "model",
    "prompt_tokens": "input_tokens", "tokens_in": "input_tokens", "input": "input_tokens",
    "completion_tokens": "output_tokens", "tokens_out": "output_tokens", "output": "output_tokens",
    "cached_tokens": "cached_input_tokens", "cache_read_input_tokens": "cached_input_tokens",
    "cache_read_tokens": "cached_input_tokens", "cached_input": "cached_input_tokens",
    "cache_creation_input_tokens": "cache_write_tokens", "cache_write_input_tokens": "cache_write_tokens",
    "cache_creation_tokens": "cache_write_tokens",
    "cost": "cost_usd", "usd": "cost_usd", "spend": "cost_usd", "total_cost": "cost_usd", "amount": "cost_usd",
    "cost_usd_": "cost_usd", "price": "cost_usd",
    "latency": "latency_ms", "duration_ms": "latency_ms",
    "user_id": "user", "end_user": "user",
    "num_requests": "requests", "request_count": "requests",
    "request_id": "source_id", "id": "source_id", "call_id": "source_id", "generation_id": "source_id",
    "api_key": "api_key_id", "key_id": "api_key_id",
    "tier": "service_tier",
    "batch": "is_batch",
    # German, French and Spanish spreadsheet headers.
    "zeitpunkt": "ts", "zeit": "ts", "datum": "ts", "modell": "model", "benutzer": "user", "nutzer": "user",
    "funktion": "feature", "anbieter": "provider", "kosten": "cost_usd", "eingabe_tokens": "input_tokens",
    "ausgabe_tokens": "output_tokens",
    "modèle": "model", "utilisateur": "user", "fournisseur": "provider", "coût": "cost_usd", "cout": "cost_usd",
    "fecha": "ts", "modelo": "model", "usuario": "user", "proveedor": "provider", "costo": "cost_usd",
    "coste": "cost_usd",
}
REQUIRED = ("ts", "model")
# Every column the generic format reads.
KNOWN = {
    "ts", "user", "provider", "model", "feature", "input_tokens", "output_tokens", "cached_input_tokens",
    "latency_ms", "status", "is_batch", "prompt_hash", "prompt_prefix_hash", "prompt_prefix_tokens", "max_tokens",
    "cost_usd", "requests", "cache_write_tokens", "service_tier", "source_id", "api_key_id",
}
# Columns of llm_usage that a file may carry but that the import sets itself.
IGNORED = {"org_id", "row_key", "priced", "prompt_key", "stated_cost_usd", "tags"}
# What makes rows worth importing: without any, every row would be 0 tokens and $0.
MEASURES = ("input_tokens", "output_tokens", "cost_usd")
_UNIT = re.compile(r"\s*[(\[](usd|\$|us\$|eur|€|tokens?|ms)[)\]]\s*$")
_SEPARATORS = re.compile(r"[\s\-./]+")
_DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")


def canonical_column(name: str) -> str:
    key = name.strip().lstrip("\ufeff").strip().lower()
    key = _UNIT.sub("", key)
    key = _SEPARATORS.sub("_", key).strip("_")
    return ALIASES.get(key, key)


def check_columns(header: list[str], columns: list[str], report_unknown: list[str]) -> None:
    """Refuse a header the generic format cannot use; list the columns it does not read."""
    from .report import ImportFormatError

    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ImportFormatError(
            f"CSV header lacks required column(s) {', '.join(missing)}; found: {', '.join(header)[:300]}"
        )
    if not any(c in columns for c in MEASURES):
        raise ImportFormatError(
            "no token or cost column recognised (input_tokens, output_tokens or cost_usd; also 'Input Tokens', "
            "'prompt_tokens', 'Cost ($)'...): every row would import as 0 tokens and $0; found: "
            + ", ".join(header)[:300]
        )
    report_unknown.extend(h.strip() for h, c in zip(header, columns, strict=True)
                          if c not in KNOWN and c not in IGNORED and h.strip())


def decimal_commas(fields: list[str]) -> list[str]:
    """`0,569788` -> `0.569788` in a `;`-delimited file, where the comma is the decimal mark."""
    return [f.replace(",", ".") if _DECIMAL_COMMA.match(f) else f for f in fields]


def generic_row(org_id: str, rec: Mapping[str, object]) -> dict:
    """A stored row from one record keyed by (canonical) column names."""
    get = rec.get
    input_tokens = parse_count(get("input_tokens"), "input_tokens")
    output_tokens = parse_count(get("output_tokens"), "output_tokens")
    tier = str(get("service_tier") or "").strip().lower()
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
        cache_write_tokens=parse_count(get("cache_write_tokens"), "cache_write_tokens"),
        latency_ms=parse_count(get("latency_ms"), "latency_ms", None),
        status=normalize_status(get("status")),
        is_batch=parse_bool(get("is_batch"), "is_batch") or int(tier == "batch"),
        service_tier=tier,
        prompt_hash=str(get("prompt_hash") or ""),
        prompt_prefix_hash=str(get("prompt_prefix_hash") or ""),
        prompt_prefix_tokens=parse_count(get("prompt_prefix_tokens"), "prompt_prefix_tokens"),
        max_tokens=parse_count(get("max_tokens"), "max_tokens", None),
        requests=parse_count(get("requests"), "requests", 1),
        stated_cost_usd=parse_cost(get("cost_usd")),
        source_id=_source_id(get("source_id")),
        api_key_id=str(get("api_key_id") or ""),
    )


def _source_id(value: object) -> str:
    text = str(value or "").strip()
    if text.startswith("#"):
        # '#n' is how repeats without an identity are numbered (schema.ROW_KEY).
        raise RowError(f"invalid source id {text[:40]!r}: must not start with '#'")
    return text
