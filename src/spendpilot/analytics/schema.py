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
    # Deterministic hash of org + canonical row; makes re-imports idempotent.
    ("row_key", "UInt64", 0),
]

COLUMN_NAMES: list[str] = [name for name, _, _ in COLUMNS]

# Ordered by org then time: every query is scoped to one org and one time window.
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (\n"
    + ",\n".join(f"    `{name}` {ctype}" for name, ctype, _ in COLUMNS)
    + "\n) ENGINE = MergeTree\n"
    "PARTITION BY toYYYYMM(ts)\n"
    "ORDER BY (org_id, ts)"
)
