"""Retry and error waste: calls billed for tokens that returned nothing usable."""

from __future__ import annotations

from datetime import date

from ..grouped import GroupedRead
from ..schema import FAILURES as FAILURES_TABLE
from ..schema import PROMPTS, failures_select
from ..scope import WHOLE_ORG, Scope
from ..sql import COST, FAILED, ORG, RAW_WINDOW, cost_if, rollup_where, window_read
from ..store import AnalyticsStore
from ..window import Window, money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, Analysis, by_savings, feature_finding, monthly_note, usd

KIND = "retry_waste"
MIN_FAILURE_RATE = 0.02
MIN_FAILED_REQUESTS = 20
RETRY_WINDOW_S = 300


FAILED_CALLS = GroupedRead(
    (("provider", "provider"), ("model", "model"), ("feature", "feature")),
    (("requests", "toUInt64(sum(requests))"),
     ("failed_requests", f"toUInt64(sumIf(requests, {FAILED}))"),
     ("error_requests", "toUInt64(sumIf(requests, status = 'error'))"),
     ("timeout_requests", "toUInt64(sumIf(requests, status = 'timeout'))"),
     ("rate_limited_requests", "toUInt64(sumIf(requests, status = 'rate_limited'))"),
     ("cost_usd", COST),
     ("failed_cost_usd", cost_if(FAILED))),
    rows="priced = 1",
    keep=f"sumIf(requests, {FAILED}) > 0",
)


def failures(scope: Scope = WHOLE_ORG) -> str:
    return window_read(FAILED_CALLS, scope)


FAILURES = failures()


def _failed_calls(scope: Scope) -> str:
    """The window's failed calls of the scope: the failures table, or raw calls for a user or tag scope."""
    if scope.needs_raw:
        return f"({failures_select(RAW_WINDOW + scope.where())})"
    return f"(SELECT * FROM {FAILURES_TABLE} WHERE {RAW_WINDOW}{rollup_where(scope)})"

# Calls that repeat a failed call's exact prompt within the retry window after it. The
# failures come from their small side table; the calls from the prompts rollup, where the
# flagged features' calls lie together, sorted by prompt key.
def retries_after_failure(scope: Scope = WHOLE_ORG) -> str:
    failed = _failed_calls(scope)
    return f"""
SELECT f.provider AS provider, f.model AS model, f.feature AS feature,
       toUInt64(uniqExact(u.prompt_key, u.ts)) AS retry_requests,
       toUInt64(uniqExact(f.prompt_key, f.ts)) AS retried_failures
FROM
(
    SELECT provider, model, feature, prompt_key, ts
    FROM {failed} AS failed
    WHERE feature IN {{features:Array(String)}}
) AS f
INNER JOIN
(
    SELECT prompt_key, ts
    FROM {PROMPTS}
    -- No time filter here: the join keeps only calls within minutes after a failure of
    -- the window. Only the flagged features' calls are read (the primary key's prefix).
    WHERE {ORG} AND feature IN {{features:Array(String)}} AND prompt_key IN (
        SELECT prompt_key FROM {failed} AS failed_keys WHERE feature IN {{features:Array(String)}}
    )
) AS u ON u.prompt_key = f.prompt_key
WHERE u.ts > f.ts AND u.ts <= f.ts + toIntervalSecond({{retry_window_s:UInt32}})
GROUP BY provider, model, feature
"""


RETRIES_AFTER_FAILURE = retries_after_failure()


def qualifying(rows: list[dict], window: Window) -> list[tuple[dict, float]]:
    """The failed-call groups worth a finding, each with its failure rate: enough failures, at a high enough rate,
    costing enough a month."""
    candidates = []
    for r in rows:
        failed = int(r["failed_requests"])
        rate = failed / int(r["requests"]) if r["requests"] else 0.0
        if failed < MIN_FAILED_REQUESTS or rate < MIN_FAILURE_RATE:
            continue
        if window.monthly(r["failed_cost_usd"]) < MIN_MONTHLY_SAVINGS_USD:
            continue
        candidates.append((r, rate))
    return candidates


def retry_search(window: Window, candidates: list[tuple[dict, float]], scope: Scope = WHOLE_ORG) -> tuple[str, dict]:
    """The retry search over the qualifying groups' features: its statement and parameters (analytics.batch starts
    it as soon as the failures are read, so the search the tool asks is already under way)."""
    return retries_after_failure(scope), {**window.params, **scope.params(), "retry_window_s": RETRY_WINDOW_S,
                                          "features": sorted({r["feature"] for r, _ in candidates})}


async def find_retry_waste(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Spend on failed calls (errors, timeouts, rate limits) and the retries they caused."""
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    candidates = qualifying(await store.query(failures(scope), {**window.params, **scope.params()}), window)
    if not candidates:
        return []
    retries = {(x["provider"], x["model"], x["feature"]): x
               for x in await store.query(*retry_search(window, candidates, scope))}
    findings = []
    for r, rate in candidates:
        key = (r["provider"], r["model"], r["feature"])
        retry = retries.get(key, {})
        feature = r["feature"] or "(no feature)"
        saving = window.monthly(r["failed_cost_usd"])
        by_status = {
            s: int(r[f"{s}_requests"]) for s in ("error", "timeout", "rate_limited") if int(r[f"{s}_requests"])
        }
        main_cause = max(by_status, key=by_status.__getitem__)
        findings.append(
            feature_finding(
                "retry", r,
                title=f"Stop paying for failed {r['model']} calls in {feature} ({rate:.1%} fail)",
                kind=KIND,
                monthly_savings_usd=saving,
                evidence={
                    "requests": int(r["requests"]),
                    "failed_requests": int(r["failed_requests"]),
                    "failure_rate": round(rate, 4),
                    "failed_by_status": by_status,
                    "failed_cost_usd": money(r["failed_cost_usd"]),
                    "retry_requests": int(retry.get("retry_requests", 0)),
                    "retried_failures": int(retry.get("retried_failures", 0)),
                    "retry_window_s": RETRY_WINDOW_S,
                    "period": window.as_period(),
                },
                assumptions=[
                    "Failed calls (status error, timeout or rate_limited) were billed for the tokens they "
                    "consumed but returned nothing usable; the saving is exactly their recorded cost.",
                    f"A call repeating a failed call's prompt_hash within {RETRY_WINDOW_S // 60} minutes is "
                    "counted as its retry: the retries prove the work had to be paid for twice.",
                    "Assumes the failures are preventable (timeouts, rate limits and malformed requests "
                    "usually are); provider outages are not.",
                    PRICE_NOTE,
                    monthly_note(window),
                ],
                actions=[
                    {
                        "timeout": f"Most failures are timeouts: stream responses or raise the client timeout "
                        f"for {feature}, and cap max_tokens so calls finish in time.",
                        "rate_limited": f"Most failures are rate limits: add exponential backoff with jitter and "
                        f"spread {feature}'s load, or raise the quota.",
                        "error": f"Most failures are errors: log and fix the failing {feature} requests "
                        "(validation, context length) before retrying them.",
                    }[main_cause],
                    "Retry only on retryable errors, at most twice, with backoff; never retry a timeout "
                    "with the same oversized request.",
                    f"Track the failure rate of {feature}; at 0.5% the waste would drop to about "
                    f"{usd(saving * 0.005 / rate)}/month.",
                ],
            )
        )
    return by_savings(findings)


ANALYSIS = Analysis(
    name="retry_waste",
    run=find_retry_waste,
    description="Spend on failed calls (errors, timeouts, rate limits) and the retries they trigger.",
    kind="savings",
    intents=("cost_analysis",),
)
