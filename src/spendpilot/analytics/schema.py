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
    # The row's identity in its source: a span (trace_id:span_id), a gateway call, a request id,
    # a bucket and its group key. Empty when the source gives none (see ROW_KEY).
    ("source_id", "String", ""),
    # Input tokens written to a provider's prompt cache (billed above the plain input rate).
    ("cache_write_tokens", "UInt64", 0),
    # The provider's processing tier when reported: flex, priority, batch, ... ('' standard or unknown).
    ("service_tier", "LowCardinality(String)", ""),
    # What the source itself said the row cost, kept beside cost_usd (our price) to compare.
    ("stated_cost_usd", "Nullable(Float64)", None),
    # The org API key that sent the row (live intake), for attribution by key.
    ("api_key_id", "LowCardinality(String)", ""),
    # Free-form attribution: team, environment, ... from spendpilot.tag.* attributes or gateway headers.
    ("tags", "Map(LowCardinality(String), String)", None),
    # Identity of the row, computed by ClickHouse on insert (see ROW_KEY); makes re-imports
    # idempotent. Cost is left out: it is derived.
    ("row_key", "UInt64", None),
]

# The prompt hash as a number: the retry search joins on it, and 64-bit keys are several
# times cheaper to read and look up than strings. 0 means no prompt hash.
PROMPT_KEY = "if(prompt_hash = '', 0, cityHash64(prompt_hash))"

# A row's key is its source identity when it has one (a request id, a span, a bucket and its group
# keys); otherwise a hash of the row's usage facts (NULL-able fields hash as a sentinel so "not
# reported" and 0 stay distinct keys). Rows without a source identity are never merged by value:
# the import numbers repeated content within a file, and the n-th repeat (n >= 1) carries
# source_id '#n', keyed by its content and that number. Re-importing the file repeats the numbers,
# so it stays idempotent; five identical calls in one file stay five rows.
_CONTENT_V1 = (
    "org_id, toUnixTimestamp64Milli(ts), user, provider, model, feature, "
    "input_tokens, output_tokens, cached_input_tokens, ifNull(latency_ms, 4294967295), "
    "status, is_batch, prompt_hash, prompt_prefix_hash, prompt_prefix_tokens, "
    "ifNull(max_tokens, 4294967295), requests"
)
# Rows of the first schema hash exactly as before (their stored keys stay valid); rows that carry
# the later usage columns hash them too.
CONTENT_KEY = (
    f"if(cache_write_tokens = 0 AND service_tier = '', cityHash64({_CONTENT_V1}), "
    f"cityHash64({_CONTENT_V1}, cache_write_tokens, service_tier))"
)
ROW_KEY = (
    f"multiIf(source_id = '', {CONTENT_KEY}, "
    f"startsWith(source_id, '#'), cityHash64({CONTENT_KEY}, source_id), "
    "cityHash64(org_id, source_id))"
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
    + ",\n"
    f"    `prompt_key` UInt64 MATERIALIZED {PROMPT_KEY}"
    + "\n) ENGINE = MergeTree\n"
    "PARTITION BY toYYYYMM(ts)\n"
    "ORDER BY (org_id, ts)"
)

# Parts written before prompt_key existed compute it on read until materialized.
MATERIALIZE_PROMPT_KEY = f"ALTER TABLE {TABLE} MATERIALIZE COLUMN `prompt_key`"

# Tables created by earlier versions get today's columns and defaults (metadata-only changes;
# rows written before read a new column as its default).
ALTER_DEFAULTS = (
    f"ALTER TABLE {TABLE} "
    + "".join(f"ADD COLUMN IF NOT EXISTS {_column_ddl(name, ctype, default).strip()}, "
              for name, ctype, default in COLUMNS)
    + f"ADD COLUMN IF NOT EXISTS `prompt_key` UInt64 MATERIALIZED {PROMPT_KEY}, "
    + ", ".join(
        f"MODIFY COLUMN `{name}` {ctype} DEFAULT {_default_sql(name, default)}"
        for name, ctype, default in COLUMNS
        if _default_sql(name, default)
    )
)


# --- rollups ---------------------------------------------------------------------------
# Materialized views keep small pre-aggregates of llm_usage up to date on every insert, so
# spend questions over tens of millions of calls read thousands of rows instead. Sums are
# exact (cost as Decimal); latency is kept as a histogram of 3-significant-digit buckets.

# Providers cache prompt prefixes of at least this many tokens; shorter ones never pay.
MIN_CACHEABLE_PREFIX_TOKENS = 1024


def sig3(expr: str) -> str:
    """An integer rounded to 3 significant digits (exact below 1,000)."""
    return f"toUInt32(round({expr}, -greatest(0, length(toString({expr})) - 3)))"


HOURLY = "llm_usage_hourly"
_HOURLY_SUMS = (
    "row_count", "requests", "input_tokens", "output_tokens", "cached_input_tokens",
    "with_latency_ms", "with_prompt_hash", "with_prompt_prefix_hash", "with_max_tokens",
    "with_user", "with_cached_input_tokens",
)
CREATE_HOURLY = (
    f"CREATE TABLE IF NOT EXISTS {HOURLY} (\n"
    "    `org_id` LowCardinality(String),\n"
    "    `hour` DateTime('UTC'),\n"
    "    `provider` LowCardinality(String),\n"
    "    `model` LowCardinality(String),\n"
    "    `feature` LowCardinality(String),\n"
    "    `status` LowCardinality(String),\n"
    "    `is_batch` UInt8,\n"
    "    `priced` UInt8,\n"
    # 0: one row is one call; 1: an aggregated row with a call count; 2: count unknown.
    "    `row_kind` UInt8,\n"
    + "".join(f"    `{name}` SimpleAggregateFunction(sum, UInt64),\n" for name in _HOURLY_SUMS)
    + "    `cost` SimpleAggregateFunction(sum, Decimal128(12))\n"
    ") ENGINE = AggregatingMergeTree\n"
    "PARTITION BY toYYYYMM(hour)\n"
    "ORDER BY (org_id, hour, provider, model, feature, status, is_batch, priced, row_kind)"
)
def hourly_select(where: str = "") -> str:
    """The hourly rollup's SELECT over llm_usage; `where` narrows the rows (a scope read from raw rows).

    Source columns are qualified (`llm_usage.requests`) wherever an alias of the same name exists, so the
    view fills correctly whatever `prefer_column_name_to_alias` the writer's session has.
    """
    condition = f"WHERE {where}\n" if where else ""
    return f"""
SELECT org_id, toStartOfHour(ts) AS hour, provider, model, feature, status, is_batch, priced,
       toUInt8(multiIf({TABLE}.requests = 1, 0, {TABLE}.requests > 1, 1, 2)) AS row_kind,
       count() AS row_count,
       sum(toUInt64({TABLE}.requests)) AS requests,
       sum({TABLE}.input_tokens) AS input_tokens,
       sum({TABLE}.output_tokens) AS output_tokens,
       sum({TABLE}.cached_input_tokens) AS cached_input_tokens,
       countIf(latency_ms IS NOT NULL) AS with_latency_ms,
       countIf(prompt_hash != '') AS with_prompt_hash,
       countIf(prompt_prefix_hash != '') AS with_prompt_prefix_hash,
       countIf(max_tokens IS NOT NULL) AS with_max_tokens,
       countIf(user != '') AS with_user,
       countIf({TABLE}.cached_input_tokens > 0) AS with_cached_input_tokens,
       sum(toDecimal128(cost_usd, 12)) AS cost
FROM {TABLE}
{condition}GROUP BY org_id, hour, provider, model, feature, status, is_batch, priced, row_kind
"""


HOURLY_SELECT = hourly_select()

LATENCY = "llm_usage_latency"
CREATE_LATENCY = (
    f"CREATE TABLE IF NOT EXISTS {LATENCY} (\n"
    "    `org_id` LowCardinality(String),\n"
    "    `day` Date,\n"
    # Latency in ms to 3 significant digits -> calls; a day's histogram stays small.
    "    `latency_hist` SimpleAggregateFunction(sumMap, Map(UInt32, UInt64))\n"
    ") ENGINE = AggregatingMergeTree\n"
    "PARTITION BY toYYYYMM(day)\n"
    "ORDER BY (org_id, day)"
)
LATENCY_SELECT = f"""
SELECT org_id, toDate(ts) AS day,
       sumMap(map({sig3('assumeNotNull(latency_ms)')}, toUInt64(1))) AS latency_hist
FROM {TABLE}
WHERE latency_ms IS NOT NULL
GROUP BY org_id, day
"""

OUTPUTS = "llm_usage_outputs"
CREATE_OUTPUTS = (
    f"CREATE TABLE IF NOT EXISTS {OUTPUTS} (\n"
    "    `org_id` LowCardinality(String),\n"
    "    `day` Date,\n"
    "    `provider` LowCardinality(String),\n"
    "    `model` LowCardinality(String),\n"
    "    `feature` LowCardinality(String),\n"
    "    `is_batch` UInt8,\n"
    "    `row_count` SimpleAggregateFunction(sum, UInt64),\n"
    "    `max_tokens_sum` SimpleAggregateFunction(sum, UInt64),\n"
    # Output tokens -> calls; exact below 10,000 tokens, 3 significant digits above.
    "    `output_hist` SimpleAggregateFunction(sumMap, Map(UInt32, UInt64))\n"
    ") ENGINE = AggregatingMergeTree\n"
    "PARTITION BY toYYYYMM(day)\n"
    "ORDER BY (org_id, day, provider, model, feature, is_batch)"
)
def outputs_select(where: str = "") -> str:
    """The outputs rollup's SELECT over llm_usage; `where` narrows the rows (a scope read from raw rows)."""
    extra = f" AND {where}" if where else ""
    return f"""
SELECT org_id, toDate(ts) AS day, provider, model, feature, is_batch,
       count() AS row_count,
       sum(toUInt64(assumeNotNull(max_tokens))) AS max_tokens_sum,
       sumMap(map(toUInt32(if(output_tokens < 10000, output_tokens, {sig3('output_tokens')})), toUInt64(1)))
           AS output_hist
FROM {TABLE}
WHERE max_tokens IS NOT NULL AND requests = 1 AND priced = 1{extra}
GROUP BY org_id, day, provider, model, feature, is_batch
"""


OUTPUTS_SELECT = outputs_select()

PREFIXES = "llm_usage_prefix_slots"
CREATE_PREFIXES = (
    f"CREATE TABLE IF NOT EXISTS {PREFIXES} (\n"
    "    `org_id` LowCardinality(String),\n"
    # The 5-minute slot a provider's prompt cache entry lives for.
    "    `slot` DateTime('UTC'),\n"
    "    `provider` LowCardinality(String),\n"
    "    `model` LowCardinality(String),\n"
    "    `feature` LowCardinality(String),\n"
    "    `prompt_prefix_hash` String,\n"
    "    `row_count` SimpleAggregateFunction(sum, UInt64),\n"
    "    `input_tokens` SimpleAggregateFunction(sum, UInt64),\n"
    "    `cached_input_tokens` SimpleAggregateFunction(sum, UInt64),\n"
    "    `prefix_tokens` SimpleAggregateFunction(max, UInt32)\n"
    ") ENGINE = AggregatingMergeTree\n"
    "PARTITION BY toYYYYMM(slot)\n"
    "ORDER BY (org_id, slot, provider, model, feature, prompt_prefix_hash)"
)
def prefixes_select(where: str = "") -> str:
    """The prefix-slots rollup's SELECT over llm_usage; `where` narrows the rows (a scope read from raw rows)."""
    extra = f" AND {where}" if where else ""
    return f"""
SELECT org_id, toStartOfInterval(ts, INTERVAL 5 MINUTE) AS slot, provider, model, feature, prompt_prefix_hash,
       count() AS row_count,
       sum({TABLE}.input_tokens) AS input_tokens,
       sum({TABLE}.cached_input_tokens) AS cached_input_tokens,
       max(prompt_prefix_tokens) AS prefix_tokens
FROM {TABLE}
WHERE prompt_prefix_hash != '' AND prompt_prefix_tokens >= {MIN_CACHEABLE_PREFIX_TOKENS}
  AND is_batch = 0 AND requests = 1 AND priced = 1{extra}
GROUP BY org_id, slot, provider, model, feature, prompt_prefix_hash
"""


PREFIXES_SELECT = prefixes_select()

FAILURES = "llm_usage_failures"
CREATE_FAILURES = (
    f"CREATE TABLE IF NOT EXISTS {FAILURES} (\n"
    "    `org_id` LowCardinality(String),\n"
    "    `ts` DateTime64(3, 'UTC'),\n"
    "    `provider` LowCardinality(String),\n"
    "    `model` LowCardinality(String),\n"
    "    `feature` LowCardinality(String),\n"
    "    `prompt_key` UInt64\n"
    ") ENGINE = MergeTree\n"
    "PARTITION BY toYYYYMM(ts)\n"
    "ORDER BY (org_id, ts)"
)
def failures_select(where: str = "") -> str:
    """Failed calls that carry a prompt hash: the few rows the retry search starts from."""
    extra = f" AND {where}" if where else ""
    return f"""
SELECT org_id, ts, provider, model, feature, {PROMPT_KEY} AS prompt_key
FROM {TABLE}
WHERE status IN ('error', 'timeout', 'rate_limited') AND prompt_hash != ''{extra}
"""


FAILURES_SELECT = failures_select()

# Every call that carries a prompt hash, ordered by feature and prompt key: the retry search looks up
# the failed calls' keys within the flagged features only, reading a narrow slice instead of every
# raw call of the org (where the failed keys are spread over every granule).
PROMPTS = "llm_usage_prompts"
CREATE_PROMPTS = (
    f"CREATE TABLE IF NOT EXISTS {PROMPTS} (\n"
    "    `org_id` LowCardinality(String),\n"
    "    `feature` LowCardinality(String),\n"
    "    `prompt_key` UInt64,\n"
    "    `ts` DateTime64(3, 'UTC')\n"
    ") ENGINE = MergeTree\n"
    "PARTITION BY toYYYYMM(ts)\n"
    "ORDER BY (org_id, feature, prompt_key, ts)"
)
PROMPTS_SELECT = f"""
SELECT org_id, feature, {PROMPT_KEY} AS prompt_key, ts
FROM {TABLE}
WHERE prompt_hash != ''
"""

# (rollup table, its DDL, the SELECT that fills it) in creation order.
ROLLUPS = [
    (HOURLY, CREATE_HOURLY, HOURLY_SELECT),
    (LATENCY, CREATE_LATENCY, LATENCY_SELECT),
    (OUTPUTS, CREATE_OUTPUTS, OUTPUTS_SELECT),
    (PREFIXES, CREATE_PREFIXES, PREFIXES_SELECT),
    (FAILURES, CREATE_FAILURES, FAILURES_SELECT),
    (PROMPTS, CREATE_PROMPTS, PROMPTS_SELECT),
]


def create_view(table: str, select: str) -> str:
    return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO {table} AS {select}"


def backfill(table: str, select: str) -> str:
    return f"INSERT INTO {table} {select}"


ROW_COUNTS = (
    f"SELECT (SELECT count() FROM {TABLE}) AS raw, "
    + ", ".join(f"(SELECT count() FROM {table}) AS `{table}`" for table, _, _ in ROLLUPS)
)
