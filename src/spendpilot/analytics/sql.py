"""Every analytics SQL statement, shared verbatim by chDB and a ClickHouse server.

Values are never formatted into these strings: they are bound as ClickHouse query
parameters (``{name:Type}``). Results use only strings and numbers so both drivers
decode them the same way.
"""

from __future__ import annotations

PING = "SELECT toUInt8(1) AS ok"

# Money is summed as Decimal so the total does not depend on the order in which threads
# merge partial sums: the report and /api/usage/summary must agree to the cent and beyond.
COST = "toFloat64(sum(toDecimal128(cost_usd, 12)))"


def _cost_if(condition: str) -> str:
    return f"toFloat64(sumIf(toDecimal128(cost_usd, 12), {condition}))"


FAILED = "status IN ('error', 'timeout', 'rate_limited')"

# Whole UTC days, both ends inclusive. An open end is bound to the Date type's limits.
ORG = "org_id = {org_id:String}"
WINDOW = ORG + " AND toDate(ts) >= {start:Date} AND toDate(ts) <= {end:Date}"

ORG_BOUNDS = f"""
SELECT count() AS rows,
       toString(min(toDate(ts))) AS first_day,
       toString(max(toDate(ts))) AS last_day
FROM llm_usage
WHERE {ORG}
"""

WINDOW_TOTALS = f"""
SELECT {COST} AS cost_usd,
       toUInt64(sum(requests)) AS requests,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(sum(output_tokens)) AS output_tokens,
       toUInt64(sum(cached_input_tokens)) AS cached_input_tokens,
       toUInt64(sumIf(requests, {FAILED})) AS failed_requests,
       toUInt64(sumIf(requests, status != '')) AS status_requests,
       quantilesExactIf(0.5, 0.95)(latency_ms, latency_ms IS NOT NULL) AS latency_q
FROM llm_usage
WHERE {WINDOW}
"""

_GROUP_KEYS = {
    "model": "model",
    "provider": "provider",
    "feature": "feature",
    "day": "toString(toDate(ts))",
}


def _summary_by(key_expr: str) -> str:
    return f"""
SELECT {key_expr} AS key,
       {COST} AS cost_usd,
       toUInt64(sum(requests)) AS requests,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(sum(output_tokens)) AS output_tokens
FROM llm_usage
WHERE {WINDOW}
GROUP BY key
"""


SUMMARY_BY = {name: _summary_by(expr) for name, expr in _GROUP_KEYS.items()}

BY_MODEL = f"""
SELECT provider, model,
       {COST} AS cost_usd,
       toUInt64(sum(requests)) AS requests
FROM llm_usage
WHERE {WINDOW}
GROUP BY provider, model
"""

DAILY = f"""
SELECT toString(toDate(ts)) AS day,
       {COST} AS cost_usd,
       toUInt64(sum(requests)) AS requests
FROM llm_usage
WHERE {WINDOW}
GROUP BY day
ORDER BY day
"""

PROFILE = f"""
SELECT count() AS rows,
       toUInt64(sum(requests)) AS requests,
       toString(min(toDate(ts))) AS first_day,
       toString(max(toDate(ts))) AS last_day,
       uniqExact(toDate(ts)) AS days_covered,
       arraySort(groupUniqArray(provider)) AS providers,
       arraySort(groupUniqArray(model)) AS models,
       arraySort(groupUniqArrayIf(feature, feature != '')) AS features,
       countIf(latency_ms IS NOT NULL) AS with_latency_ms,
       countIf(prompt_hash != '') AS with_prompt_hash,
       countIf(prompt_prefix_hash != '') AS with_prompt_prefix_hash,
       countIf(max_tokens IS NOT NULL) AS with_max_tokens,
       countIf(status != '') AS with_status,
       countIf(feature != '') AS with_feature,
       countIf(user != '') AS with_user,
       countIf(cached_input_tokens > 0) AS with_cached_input_tokens,
       countIf(requests != 1) AS aggregated_rows,
       countIf(priced = 0) AS unpriced_rows,
       arraySort(groupUniqArrayIf(model, priced = 0)) AS unpriced_models
FROM llm_usage
WHERE {ORG}
"""

# --- import ---------------------------------------------------------------------------

# Cheap test first: a batch whose time range holds no stored rows cannot hold duplicates.
ROWS_IN_RANGE = f"""
SELECT count() AS n
FROM llm_usage
WHERE {ORG} AND ts >= {{lo:DateTime64(3, 'UTC')}} AND ts <= {{hi:DateTime64(3, 'UTC')}}
"""

EXISTING_KEYS = f"""
SELECT DISTINCT row_key
FROM llm_usage
WHERE {ORG} AND ts >= {{lo:DateTime64(3, 'UTC')}} AND ts <= {{hi:DateTime64(3, 'UTC')}}
  AND row_key IN {{keys:Array(UInt64)}}
"""

# --- analyses -------------------------------------------------------------------------

# Per provider/model/feature token mix, split by batch so alternatives price each part right.
MODEL_MIX = f"""
SELECT provider, model, feature,
       toUInt64(sum(requests)) AS requests,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(sum(output_tokens)) AS output_tokens,
       toUInt64(sum(cached_input_tokens)) AS cached_input_tokens,
       toUInt64(sumIf(requests, is_batch = 1)) AS batch_requests,
       toUInt64(sumIf(input_tokens, is_batch = 1)) AS batch_input_tokens,
       toUInt64(sumIf(output_tokens, is_batch = 1)) AS batch_output_tokens,
       toUInt64(sumIf(cached_input_tokens, is_batch = 1)) AS batch_cached_input_tokens,
       {COST} AS cost_usd
FROM llm_usage
WHERE {WINDOW} AND priced = 1 AND requests > 0
GROUP BY provider, model, feature
"""

# Repeated long prompt prefixes on interactive per-call traffic. A provider cache entry
# lives about five minutes, so each distinct 5-minute slot with the prefix costs one write.
PREFIX_REPEATS = f"""
SELECT provider, model, feature, prompt_prefix_hash,
       toUInt64(count()) AS requests,
       toUInt64(max(prompt_prefix_tokens)) AS prefix_tokens,
       toUInt64(sum(cached_input_tokens)) AS cached_input_tokens,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(uniqExact(toStartOfInterval(ts, INTERVAL 5 MINUTE))) AS cache_slots,
       {COST} AS cost_usd
FROM llm_usage
WHERE {WINDOW} AND priced = 1 AND is_batch = 0 AND requests = 1
  AND prompt_prefix_hash != '' AND prompt_prefix_tokens >= {{min_prefix_tokens:UInt32}}
GROUP BY provider, model, feature, prompt_prefix_hash
HAVING requests >= {{min_repeats:UInt32}}
"""

# When interactive per-call traffic happens (UTC hour), per provider/model/feature.
INTERACTIVE_HOURS = f"""
SELECT provider, model, feature,
       toUInt64(count()) AS requests,
       toUInt64(countIf(toHour(ts) >= {{off_start:UInt8}} AND toHour(ts) < {{off_end:UInt8}})) AS off_hours_requests,
       uniqExact(toDate(ts)) AS active_days,
       {COST} AS cost_usd,
       {_cost_if("toHour(ts) >= {off_start:UInt8} AND toHour(ts) < {off_end:UInt8}")} AS off_hours_cost_usd
FROM llm_usage
WHERE {WINDOW} AND priced = 1 AND is_batch = 0 AND requests = 1
GROUP BY provider, model, feature
"""

FAILURES = f"""
SELECT provider, model, feature,
       toUInt64(sum(requests)) AS requests,
       toUInt64(sumIf(requests, {FAILED})) AS failed_requests,
       toUInt64(sumIf(requests, status = 'error')) AS error_requests,
       toUInt64(sumIf(requests, status = 'timeout')) AS timeout_requests,
       toUInt64(sumIf(requests, status = 'rate_limited')) AS rate_limited_requests,
       {COST} AS cost_usd,
       {_cost_if(FAILED)} AS failed_cost_usd
FROM llm_usage
WHERE {WINDOW} AND priced = 1
GROUP BY provider, model, feature
HAVING failed_requests > 0
"""

# Calls that repeat a failed call's exact prompt within the retry window after it.
RETRIES_AFTER_FAILURE = f"""
SELECT f.provider AS provider, f.model AS model, f.feature AS feature,
       toUInt64(uniqExact(u.prompt_hash, u.ts)) AS retry_requests,
       toUInt64(uniqExact(f.prompt_hash, f.ts)) AS retried_failures
FROM
(
    SELECT provider, model, feature, prompt_hash, ts
    FROM llm_usage
    WHERE {WINDOW} AND {FAILED} AND prompt_hash != ''
) AS f
INNER JOIN
(
    SELECT prompt_hash, ts
    FROM llm_usage
    WHERE {WINDOW} AND prompt_hash IN (
        SELECT prompt_hash FROM llm_usage WHERE {WINDOW} AND {FAILED} AND prompt_hash != ''
    )
) AS u ON u.prompt_hash = f.prompt_hash
WHERE u.ts > f.ts AND u.ts <= f.ts + toIntervalSecond({{retry_window_s:UInt32}})
GROUP BY provider, model, feature
"""

# Output lengths against the max_tokens ceiling, and the tokens generated beyond a cap
# of max(min_cap, 2 x p95 output) -- the runaway tail a tighter max_tokens would cut.
OUTPUT_TAIL = f"""
WITH stats AS (
    SELECT provider, model, feature,
           quantileExact(0.95)(output_tokens) AS p95_output
    FROM llm_usage
    WHERE {WINDOW} AND priced = 1 AND requests = 1 AND max_tokens IS NOT NULL
    GROUP BY provider, model, feature
)
SELECT u.provider AS provider, u.model AS model, u.feature AS feature,
       toUInt64(count()) AS requests,
       avg(u.max_tokens) AS avg_max_tokens,
       toUInt64(any(s.p95_output)) AS p95_output,
       toUInt64(quantileExact(0.5)(u.output_tokens)) AS p50_output,
       toUInt64(max(u.output_tokens)) AS max_output,
       toUInt64(greatest({{min_cap:UInt32}}, 2 * any(s.p95_output))) AS cap,
       toUInt64(countIf(u.output_tokens > greatest({{min_cap:UInt32}}, 2 * s.p95_output))) AS over_cap_requests,
       toUInt64(sumIf(u.output_tokens - greatest({{min_cap:UInt32}}, 2 * s.p95_output),
                      u.output_tokens > greatest({{min_cap:UInt32}}, 2 * s.p95_output) AND u.is_batch = 0)) AS excess_tokens,
       toUInt64(sumIf(u.output_tokens - greatest({{min_cap:UInt32}}, 2 * s.p95_output),
                      u.output_tokens > greatest({{min_cap:UInt32}}, 2 * s.p95_output) AND u.is_batch = 1)) AS batch_excess_tokens,
       toFloat64(sum(toDecimal128(u.cost_usd, 12))) AS cost_usd
FROM llm_usage AS u
INNER JOIN stats AS s ON s.provider = u.provider AND s.model = u.model AND s.feature = u.feature
WHERE u.org_id = {{org_id:String}} AND toDate(u.ts) >= {{start:Date}} AND toDate(u.ts) <= {{end:Date}}
  AND u.priced = 1 AND u.requests = 1 AND u.max_tokens IS NOT NULL
GROUP BY provider, model, feature
"""
