"""SQL shared by chDB and a ClickHouse server: fragments, summaries, the profile and the import merge.

Each analysis keeps its own statements beside it in analyses/.
"""

# Values are never formatted into these strings: they are bound as ClickHouse query
# parameters ({name:Type}). Results use only strings and numbers so both drivers decode
# them the same way. Spend questions read the rollups kept by materialized views
# (schema.ROLLUPS); only the retry search reads raw calls.

from __future__ import annotations

from collections.abc import Callable

from .grouped import GroupedRead
from .schema import HOURLY, TABLE, hourly_select, sig3
from .scope import ROLLUP_KEYS, WHOLE_ORG, Scope

PING = "SELECT toUInt8(1) AS ok"

TABLE_EXISTS = "SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = {name:String}"
COLUMN_EXISTS = (
    "SELECT count() AS n FROM system.columns "
    "WHERE database = currentDatabase() AND table = {table:String} AND name = {name:String}"
)

# Money is summed as Decimal (the rollups store Decimal sums) so a total does not depend
# on the order in which threads merge partial sums: the report and /api/usage/summary
# must agree to the last digit.
COST = "toFloat64(sum(cost))"


def cost_if(condition: str) -> str:
    return f"toFloat64(sumIf(cost, {condition}))"


FAILED = "status IN ('error', 'timeout', 'rate_limited')"

# Whole UTC days, both ends inclusive. An open end is bound to the Date type's limits.
ORG = "org_id = {org_id:String}"
ORGS = "org_id IN {orgs:Array(String)}"  # several orgs' whole usage at once (analytics.batch)
DAYS = "toDate({col}) >= {{start:Date}} AND toDate({col}) <= {{end:Date}}"
WINDOW = ORG + " AND " + DAYS.format(col="hour")
# Raw calls: compare ts itself, which lets the primary key prune and is cheaper than
# converting every DateTime64 to a date.
RAW_WINDOW = (
    ORG + " AND ts >= toDateTime64({start:Date}, 3, 'UTC')"
    " AND ts < toDateTime64({end:Date}, 3, 'UTC') + INTERVAL 1 DAY"
)

# The org's stored usage: how many rows, from which day to which.
BOUNDS = GroupedRead((), (("rows", "toUInt64(sum(row_count))"), ("first_day", "toString(min(toDate(hour)))"),
                          ("last_day", "toString(max(toDate(hour)))")))
ORG_BOUNDS = BOUNDS.sql(HOURLY, ORG)


def rollup_source(table: str, select: Callable[[str], str], scope: Scope) -> str:
    """Where a rollup's rows for a scope are read: the rollup itself, or the window's raw rows shaped like it.

    The rollups carry provider, model and feature; a scope naming a user or a tag reads raw rows,
    aggregated by the rollup's own SELECT, so a statement works unchanged on both.
    """
    if not scope.needs_raw:
        return table
    return f"({select(RAW_WINDOW + scope.where())}) AS scoped_{table}"


def rollup_where(scope: Scope) -> str:
    """What a statement over rollup_source adds to its WHERE (a raw source filters inside)."""
    return "" if scope.needs_raw else scope.where(ROLLUP_KEYS)


def hourly_source(scope: Scope) -> str:
    """Where spend of a scope is read: the hourly rollup, or the window's raw rows shaped like it."""
    return rollup_source(HOURLY, hourly_select, scope)


def hourly_where(scope: Scope) -> str:
    """What a statement over hourly_source adds to its WHERE (a raw source filters inside)."""
    return rollup_where(scope)


def window_read(read: GroupedRead, scope: Scope = WHOLE_ORG) -> str:
    """A grouped read of the hourly rollup over the window and scope."""
    return read.sql(hourly_source(scope), WINDOW + hourly_where(scope))


_SUMS = (("cost_usd", COST), ("requests", "toUInt64(sum(requests))"))
_TOKENS = (("input_tokens", "toUInt64(sum(input_tokens))"), ("output_tokens", "toUInt64(sum(output_tokens))"))
TOTALS = GroupedRead((), (*_SUMS, *_TOKENS, ("cached_input_tokens", "toUInt64(sum(cached_input_tokens))"),
                          ("failed_requests", f"toUInt64(sumIf(requests, {FAILED}))"),
                          ("status_requests", "toUInt64(sumIf(requests, status != ''))")))


def window_totals(scope: Scope = WHOLE_ORG) -> str:
    return window_read(TOTALS, scope)


def latency_histogram(scope: Scope = WHOLE_ORG) -> str:
    # The latency rollup has no dimensions: a scoped question reads raw calls.
    if scope.is_whole_org:
        return f"""
SELECT sumMap(latency_hist) AS latency_hist
FROM llm_usage_latency
WHERE {ORG} AND {DAYS.format(col="day")}
"""
    return f"""
SELECT sumMap(map({sig3('assumeNotNull(latency_ms)')}, toUInt64(1))) AS latency_hist
FROM {TABLE}
WHERE {RAW_WINDOW} AND latency_ms IS NOT NULL{scope.where()}
"""


_GROUP_KEYS = {
    "model": "model",
    "provider": "provider",
    "feature": "feature",
    "day": "toString(toDate(hour))",
}


SUMMARIES = {name: GroupedRead((("key", key),), (*_SUMS, *_TOKENS)) for name, key in _GROUP_KEYS.items()}


def summary_by(group_by: str, scope: Scope = WHOLE_ORG) -> str:
    return window_read(SUMMARIES[group_by], scope)


# Attribution (who, which ingest key, which tag) is not in the rollups: these read raw calls,
# summing cost as the rollups do so that the groups add up to the window's total. The biggest
# groups come first, `limit` of them; `group_count` says how many there were in all.
ATTRIBUTION_KEYS = {
    "user": "user",
    "api_key": "api_key_id",
    "tag": "tags[{tag:String}]",
}


def attribution_by(name: str, scope: Scope = WHOLE_ORG, *, orgs: bool = False) -> str:
    """For the org's window, or (`orgs`) for the whole usage of each org in {orgs}, apart (analytics.batch)."""
    org, where, per_org = ("org_id, ", ORGS, "PARTITION BY org_id") if orgs else ("", RAW_WINDOW, "")
    return f"""
SELECT {org}key, cost_usd, requests, input_tokens, output_tokens, toUInt64(count() OVER ({per_org})) AS group_count
FROM (
    SELECT {org}{ATTRIBUTION_KEYS[name]} AS key,
           toFloat64(sum(toDecimal128(cost_usd, 12))) AS cost_usd,
           toUInt64(sum(requests)) AS requests,
           toUInt64(sum(input_tokens)) AS input_tokens,
           toUInt64(sum(output_tokens)) AS output_tokens
    FROM llm_usage
    WHERE {where}{scope.where()}
    GROUP BY {org}key
)
ORDER BY {org}cost_usd DESC, key
LIMIT {{limit:UInt32}}{" BY org_id" if orgs else ""}
"""


TAG_NAMES = f"""
SELECT DISTINCT arrayJoin(mapKeys(tags)) AS name
FROM llm_usage
WHERE {ORG}
ORDER BY name
LIMIT 500
"""


BY_MODEL_READ = GroupedRead((("provider", "provider"), ("model", "model")), _SUMS)
DAILY_READ = GroupedRead((("day", _GROUP_KEYS["day"]),), _SUMS, order="day")


def by_model(scope: Scope = WHOLE_ORG) -> str:
    return window_read(BY_MODEL_READ, scope)


def daily(scope: Scope = WHOLE_ORG) -> str:
    return window_read(DAILY_READ, scope)


def token_mix(scope: Scope = WHOLE_ORG) -> str:
    """Tokens, calls and spend per model and batch flag: what a model switch would reprice."""
    return f"""
SELECT provider, model, is_batch,
       {COST} AS cost_usd,
       toUInt64(sum(requests)) AS requests,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(sum(output_tokens)) AS output_tokens,
       toUInt64(sum(cached_input_tokens)) AS cached_input_tokens
FROM {hourly_source(scope)}
WHERE {WINDOW}{hourly_where(scope)}
GROUP BY provider, model, is_batch
"""


# The whole org's statements, as constants.
WINDOW_TOTALS = window_totals()
LATENCY_HISTOGRAM = latency_histogram()
SUMMARY_BY = {name: summary_by(name) for name in _GROUP_KEYS}
BY_MODEL = by_model()
DAILY = daily()

PROFILE = f"""
SELECT toUInt64(sum(row_count)) AS rows,
       toUInt64(sum(requests)) AS requests,
       toString(min(toDate(hour))) AS first_day,
       toString(max(toDate(hour))) AS last_day,
       uniqExact(toDate(hour)) AS days_covered,
       arraySort(groupUniqArray(provider)) AS providers,
       arraySort(groupUniqArray(model)) AS models,
       arraySort(groupUniqArrayIf(feature, feature != '')) AS features,
       toUInt64(sum(with_latency_ms)) AS with_latency_ms,
       toUInt64(sum(with_prompt_hash)) AS with_prompt_hash,
       toUInt64(sum(with_prompt_prefix_hash)) AS with_prompt_prefix_hash,
       toUInt64(sum(with_max_tokens)) AS with_max_tokens,
       toUInt64(sumIf(row_count, status != '')) AS with_status,
       toUInt64(sumIf(row_count, feature != '')) AS with_feature,
       toUInt64(sum(with_user)) AS with_user,
       toUInt64(sum(with_cached_input_tokens)) AS with_cached_input_tokens,
       toUInt64(sumIf(row_count, row_kind != 0)) AS aggregated_rows,
       toUInt64(sumIf(row_count, priced = 0)) AS unpriced_rows,
       arraySort(groupUniqArrayIf(model, priced = 0)) AS unpriced_models
FROM llm_usage_hourly
WHERE {ORG}
"""

# The values a question may name that the rollups do not carry: end users (the most frequent) and tags,
# read from the org's most recent calls only (the primary key reads them in order), so the cost of a
# profile does not grow with the org's history.
PROFILE_ATTRIBUTION_CALLS = 200_000


def profile_attribution(*, orgs: bool = False) -> str:
    """The org's, or (`orgs`) each org's in {orgs} reading all its calls: for orgs the limit leaves whole."""
    users_and_tags = """arraySort(topKIf(200)(user, user != '')) AS users,
       arraySort(arrayFilter(t -> t != '', groupUniqArrayArray(500)(
           arrayMap((k, v) -> if(k = '' OR v = '', '', concat(k, '=', v)), mapKeys(tags), mapValues(tags))))) AS tags"""
    if orgs:
        return f"SELECT org_id, {users_and_tags}\nFROM {TABLE}\nWHERE {ORGS}\nGROUP BY org_id\n"
    recent = f"SELECT user, tags FROM {TABLE} WHERE {ORG} ORDER BY ts DESC LIMIT {PROFILE_ATTRIBUTION_CALLS}"
    return f"SELECT {users_and_tags}\nFROM ({recent})\n"


PROFILE_ATTRIBUTION = profile_attribution()
# --- import ---------------------------------------------------------------------------
# An import lands each batch in a numbering table first, with each row's position in the file
# (`seq`). Rows without a source identity are numbered there by their content's occurrence in
# the file so far (earlier batches are remembered in a per-import `seen` table on disk), and
# move to the staging table with that number; the engine computes every row_key there, and
# only keys not yet stored for the org move on to llm_usage. The table names are generated by
# the importer (never user input), so they are formatted in.


def create_staging(name: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} AS llm_usage ENGINE = Memory"


def create_numbering(name: str) -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS {name} AS llm_usage ENGINE = Memory",
            f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS seq UInt64"]


def create_seen(name: str) -> str:
    # Small granules: the exact check looks up a few keys among millions.
    return (f"CREATE TABLE IF NOT EXISTS {name} (row_key UInt64, n UInt64) ENGINE = MergeTree ORDER BY row_key "
            "SETTINGS index_granularity = 256")


def drop_staging(name: str) -> str:
    return f"DROP TABLE IF EXISTS {name}"


def truncate_table(name: str) -> str:
    return f"TRUNCATE TABLE {name}"


# The rows of a batch the Python-side filter (importers/seen.py) flagged as possible repeats: only
# their keys are looked up, so the check costs a few granules, not every key of the file.
_CANDIDATES = "SELECT row_key FROM {numbering} WHERE source_id = '' AND seq IN {{seqs:Array(UInt64)}}"


def repeats(numbering: str, seen: str) -> str:
    """How many flagged rows of a batch truly repeat content: within the batch, or in an earlier batch."""
    candidates = _CANDIDATES.format(numbering=numbering)
    return f"""
SELECT toUInt64(
    (SELECT count() FROM (SELECT row_key FROM ({candidates}) GROUP BY row_key HAVING count() > 1))
  + (SELECT count() FROM {seen} WHERE row_key IN ({candidates}))
) AS n
"""


def number_rows(numbering: str, staging: str, seen: str, columns: list[str]) -> str:
    """Move a batch to staging, giving the n-th repeat of content without source identity source_id '#n'."""
    inner = ", ".join(f"a.`{c}` AS `{c}`" for c in columns)
    outer = ", ".join(
        "if(source_id != '' OR occ = 0, source_id, concat('#', toString(occ))) AS source_id"
        if c == "source_id" else f"`{c}`" for c in columns
    )
    cols = ", ".join(f"`{c}`" for c in columns)
    return f"""
INSERT INTO {staging} ({cols})
SELECT {outer} FROM (
    SELECT {inner},
           toUInt64(row_number() OVER (PARTITION BY a.row_key ORDER BY a.seq) - 1 + p.prior) AS occ
    FROM {numbering} AS a
    LEFT JOIN (
        SELECT row_key, sum(n) AS prior FROM {seen}
        WHERE row_key IN ({_CANDIDATES.format(numbering=numbering)})
        GROUP BY row_key
    ) AS p ON p.row_key = a.row_key
)
"""


def record_seen(numbering: str, seen: str) -> str:
    return f"INSERT INTO {seen} SELECT row_key, 1 FROM {numbering} WHERE source_id = ''"


def _stored_keys(name: str) -> str:
    # Keys of the batch already stored for the org: the primary key prunes to the batch's time
    # range, and the set built is the batch's keys, never every key stored in that range.
    return f"""(
        SELECT row_key FROM llm_usage
        WHERE {ORG}
          AND ts >= (SELECT min(ts) FROM {name})
          AND ts <= (SELECT max(ts) FROM {name})
          AND row_key IN (SELECT row_key FROM {name})
    )"""


# Whether the org has any stored row in a batch's time range: when not, no row of a batch that
# repeats nothing can be a duplicate, and the batch goes straight into llm_usage.
ROWS_IN_RANGE = f"""
SELECT count() AS n FROM llm_usage
WHERE {ORG} AND ts >= {{start:DateTime64(3)}} AND ts <= {{end:DateTime64(3)}}
"""
# Remembers such a batch's keys: its rows are all the org has in that range.
RECORD_SEEN_RANGE = """
INSERT INTO {seen} SELECT row_key, 1 FROM llm_usage
WHERE org_id = {{org_id:String}} AND ts >= {{start:DateTime64(3)}} AND ts <= {{end:DateTime64(3)}}
  AND source_id = ''
"""


def staging_counts(name: str) -> str:
    return f"""
SELECT toUInt64(count()) AS rows,
       toUInt64(uniqExact(row_key)) AS unique_keys,
       toUInt64(uniqExactIf(row_key, row_key IN {_stored_keys(name)})) AS stored_keys
FROM {name}
"""


def merge_staging(name: str, columns: list[str]) -> str:
    cols = ", ".join(f"`{c}`" for c in [*columns, "row_key"])
    return f"""
INSERT INTO llm_usage ({cols})
SELECT {cols} FROM {name}
WHERE row_key NOT IN {_stored_keys(name)}
LIMIT 1 BY row_key
"""


# Usage is append-only (imports skip duplicates), so an org's row count changes exactly when
# its data does: the version that keys cached analysis results. Reads only the primary key.
ORG_ROWS = f"SELECT count() AS rows FROM llm_usage WHERE {ORG}"
# Every org with stored usage (analytics.cache: which orgs are known to have none).
ORGS_WITH_USAGE = "SELECT DISTINCT org_id FROM llm_usage"

# Live intake: a batch lands in the writer's staging table; only rows whose key the org has not stored yet
# (in the batch's time range, so the primary key prunes) move on, once each. The staging name is made by
# the writer (never user input), so it is formatted in.
def merge_intake(name: str) -> str:
    return f"""
INSERT INTO llm_usage
SELECT * FROM {name}
WHERE row_key NOT IN (
    SELECT row_key FROM llm_usage
    WHERE org_id IN (SELECT DISTINCT org_id FROM {name})
      AND ts >= (SELECT min(ts) FROM {name})
      AND ts <= (SELECT max(ts) FROM {name})
)
LIMIT 1 BY row_key
"""
