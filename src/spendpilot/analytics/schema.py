"""The llm_usage table: its columns, their ClickHouse types and the DDL that creates it."""

from __future__ import annotations

TABLE = "llm_usage"

# (name, ClickHouse type, default for a row that does not carry the field).
# Nullable only where "not reported" must stay distinguishable from zero, because the
# data profile and the analyses need to know which fields an import actually carried.
COLUMNS: list[tuple[str, str, object]] = [
    ("ts", "DateTime64(3, 'UTC')", None),
    ("org_id", "LowCardinality(String)", ""),
    ("user", "String", ""),
    ("provider", "LowCardinality(String)", ""),
    ("model", "LowCardinality(String)", ""),
    ("feature", "LowCardinality(String)", ""),
    ("input_tokens", "UInt64", 0),
    ("output_tokens", "UInt64", 0),
    ("cached_input_tokens", "UInt64", 0),
    ("latency_ms", "Nullable(UInt32)", None),
    # '' means the source did not report a status; see rows.normalize_status.
    ("status", "LowCardinality(String)", ""),
    ("is_batch", "UInt8", 0),
    ("prompt_hash", "String", ""),
    ("prompt_prefix_hash", "String", ""),
    ("prompt_prefix_tokens", "UInt32", 0),
    ("max_tokens", "Nullable(UInt32)", None),
    ("cost_usd", "Float64", 0.0),
    # Aggregated exports (OpenAI, Anthropic) carry many API calls in one row.
    ("requests", "UInt32", 1),
    # 0 when the model is unknown to the price tables and no cost came with the row.
    ("priced", "UInt8", 1),
    # Deterministic hash of org + the row's usage facts, computed by ClickHouse on insert
    # (see ROW_KEY); makes re-imports idempotent. Cost is left out: it is derived.
    ("row_key", "UInt64", None),
]

# NULL-able fields hash as a sentinel so "not reported" and 0 stay distinct keys.
ROW_KEY = (
    "cityHash64(org_id, toUnixTimestamp64Milli(ts), user, provider, model, feature, "
    "input_tokens, output_tokens, cached_input_tokens, ifNull(latency_ms, 4294967295), "
    "status, is_batch, prompt_hash, prompt_prefix_hash, prompt_prefix_tokens, "
    "ifNull(max_tokens, 4294967295), requests)"
)

COLUMN_NAMES: list[str] = [name for name, _, _ in COLUMNS]
# What an insert supplies; row_key is always computed by the engine.
INSERT_COLUMNS: list[str] = [name for name in COLUMN_NAMES if name != "row_key"]


def _default_sql(name: str, default: object) -> str | None:
    if name == "row_key":
        return ROW_KEY
    # Only defaults that differ from the type's own zero value need spelling out.
    if default in (None, 0, 0.0, ""):
        return None
    return repr(default)


def _column_ddl(name: str, ctype: str, default: object) -> str:
    expr = _default_sql(name, default)
    return f"    `{name}` {ctype}" + (f" DEFAULT {expr}" if expr else "")



# Ordered by org then time: every query is scoped to one org and one time window.
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
    + ",\n".join(_column_ddl(name, ctype, default) for name, ctype, default in COLUMNS)
    + "\n) ENGINE = MergeTree\n"
    "PARTITION BY toYYYYMM(ts)\n"
    "ORDER BY (org_id, ts)"
)

# Tables created by earlier versions get today's column defaults (a metadata-only change).
ALTER_DEFAULTS = (
    f"ALTER TABLE {TABLE} "
    + ", ".join(
        f"MODIFY COLUMN `{name}` {ctype} DEFAULT {_default_sql(name, default)}"
        for name, ctype, default in COLUMNS
        if _default_sql(name, default)
    )
)
