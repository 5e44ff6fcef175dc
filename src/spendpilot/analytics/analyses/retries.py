"""Retry and error waste: calls billed for tokens that returned nothing usable."""

from __future__ import annotations

from datetime import date

from .. import sql
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, by_savings, feature_finding, monthly_note, usd

KIND = "retry_waste"
MIN_FAILURE_RATE = 0.02
MIN_FAILED_REQUESTS = 20
RETRY_WINDOW_S = 300


async def find_retry_waste(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None
) -> list[dict]:
    """Spend on failed calls (errors, timeouts, rate limits) and the retries they caused."""
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    candidates = []
    for r in await store.query(sql.FAILURES, window.params):
        failed = int(r["failed_requests"])
        rate = failed / int(r["requests"]) if r["requests"] else 0.0
        if failed < MIN_FAILED_REQUESTS or rate < MIN_FAILURE_RATE:
            continue
        if window.monthly(r["failed_cost_usd"]) < MIN_MONTHLY_SAVINGS_USD:
            continue
        candidates.append((r, rate))
    if not candidates:
        return []
    retries = {
        (x["provider"], x["model"], x["feature"]): x
        for x in await store.query(
            sql.RETRIES_AFTER_FAILURE,
            {**window.params, "retry_window_s": RETRY_WINDOW_S, "features": sorted({r["feature"] for r, _ in candidates})},
        )
    }
    findings = []
    for r, rate in candidates:
        key = (r["provider"], r["model"], r["feature"])
        retry = retries.get(key, {})
        feature = r["feature"] or "(no feature)"
        saving = window.monthly(r["failed_cost_usd"])
        by_status = {
            s: int(r[f"{s}_requests"]) for s in ("error", "timeout", "rate_limited") if int(r[f"{s}_requests"])
        }
        main_cause = max(by_status, key=by_status.get)
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
