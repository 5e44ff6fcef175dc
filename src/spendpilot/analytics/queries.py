"""Spend questions over llm_usage: summary, data profile and overview, scoped to one org."""

from __future__ import annotations

import asyncio
from datetime import date

from . import sql
from .histogram import as_counts, quantile
from .scope import WHOLE_ORG, Scope
from .store import AnalyticsStore
from .window import daily_costs, money, resolve_window

GROUP_BY = ("model", "provider", "feature", "day")
# Attribution: by the user a call was made for, the org API key that sent it, or a tag's value
# (`tag:<name>`). Calls that do not carry the field group under the key "".
ATTRIBUTION = ("user", "api_key")
TAG_PREFIX = "tag:"
# What `group_by` accepts, for the API and tool argument schemas.
GROUP_BY_PATTERN = r"^(model|provider|feature|day|user|api_key|tag:[\w.:/-]{1,100})$"
GROUP_BY_HELP = ("model, provider, feature, day, user, api_key or tag:<name> (a tag's value; "
                 "calls without the field group under the key \"\")")
MAX_ATTRIBUTION_GROUPS = 10_000


def _summary_query(group_by: str, scope: Scope, params: dict, limit: int) -> tuple[str, dict]:
    if group_by in GROUP_BY:
        return sql.summary_by(group_by, scope), params
    if group_by in ATTRIBUTION:
        return sql.attribution_by(group_by, scope), {**params, "limit": limit}
    if group_by.startswith(TAG_PREFIX) and len(group_by) > len(TAG_PREFIX):
        return sql.attribution_by("tag", scope), {**params, "limit": limit, "tag": group_by[len(TAG_PREFIX):]}
    raise ValueError(f"group_by must be {GROUP_BY_HELP}; got {group_by!r}")


async def usage_summary(
    store: AnalyticsStore,
    org_id: str,
    start: date | None = None,
    end: date | None = None,
    group_by: str = "model",
    limit: int = 1000,
    scope: Scope = WHOLE_ORG,
) -> dict:
    """Spend of the window and scope grouped by model, provider, feature, day, user, api_key or tag:<name>.

    Attribution groups (user, api_key, tags) come biggest first, at most `limit` of them;
    `truncated` says whether more were left out.
    """
    window = await resolve_window(store, org_id, start, end)
    params = {**window.params, **scope.params()}
    query, params = _summary_query(group_by, scope, params, max(1, min(limit, MAX_ATTRIBUTION_GROUPS)))
    totals = (await store.query(sql.window_totals(scope), params))[0]
    rows = await store.query(query, params)
    groups = [
        {
            "key": r["key"],
            "cost_usd": money(r["cost_usd"]),
            "requests": int(r["requests"]),
            "input_tokens": int(r["input_tokens"]),
            "output_tokens": int(r["output_tokens"]),
        }
        for r in rows
    ]
    if group_by == "day":
        groups.sort(key=lambda g: g["key"])
    else:
        groups.sort(key=lambda g: (-g["cost_usd"], g["key"]))
    summary = {
        "from": window.as_period()["from"],
        "to": window.as_period()["to"],
        "scope": scope.as_dict(),
        "total_usd": money(totals["cost_usd"]),
        "total_requests": int(totals["requests"]),
        "groups": groups,
    }
    if group_by not in GROUP_BY:  # an attribution breakdown: says how many groups there were
        count = int(rows[0]["group_count"]) if rows else 0
        summary["group_count"] = count
        summary["truncated"] = count > len(groups)
    return summary


async def tag_names(store: AnalyticsStore, org_id: str) -> list[str]:
    """The tag names the org's usage carries (for `group_by=tag:<name>`)."""
    return [r["name"] for r in await store.query(sql.TAG_NAMES, {"org_id": org_id})]


async def data_profile(store: AnalyticsStore, org_id: str) -> dict:
    """What the org's stored usage covers and which optional fields it carries."""
    # Both read at once (the store may run them at the same time); an org without rows names no one.
    profile, attribution = await asyncio.gather(store.query(sql.PROFILE, {"org_id": org_id}),
                                                store.query(sql.PROFILE_ATTRIBUTION, {"org_id": org_id}))
    r = profile[0]
    rows = int(r["rows"])
    named = attribution[0] if rows else {}
    first = date.fromisoformat(r["first_day"]) if rows else None
    last = date.fromisoformat(r["last_day"]) if rows else None
    return {
        "rows": rows,
        "requests": int(r["requests"]),
        "first_day": first.isoformat() if first else None,
        "last_day": last.isoformat() if last else None,
        "days_covered": int(r["days_covered"]) if rows else 0,
        "span_days": (last - first).days + 1 if first and last else 0,
        "providers": r["providers"] if rows else [],
        "models": r["models"] if rows else [],
        "features": r["features"] if rows else [],
        # The most frequent end users (up to 200) and every tag as name=value (up to 500).
        "users": named.get("users", []),
        "tags": named.get("tags", []),
        "fields_present": {
            "latency_ms": r["with_latency_ms"] > 0,
            "prompt_hash": r["with_prompt_hash"] > 0,
            "prompt_prefix_hash": r["with_prompt_prefix_hash"] > 0,
            "max_tokens": r["with_max_tokens"] > 0,
            "status": r["with_status"] > 0,
            "feature": r["with_feature"] > 0,
            "user": r["with_user"] > 0,
            "cached_input_tokens": r["with_cached_input_tokens"] > 0,
        },
        # Rows from aggregated exports (one row = many calls, or an unknown number).
        "aggregated_rows": int(r["aggregated_rows"]),
        "unpriced_rows": int(r["unpriced_rows"]),
        "unpriced_models": r["unpriced_models"] if rows else [],
    }


def _shares(rows: list[dict], total: float, keys: tuple[str, ...]) -> list[dict]:
    out = []
    for r in rows:
        cost = money(r["cost_usd"])
        item = {k: r[k] for k in keys}
        item.update(
            cost_usd=cost,
            requests=int(r["requests"]),
            share=round(cost / total, 4) if total > 0 else 0.0,
        )
        out.append(item)
    out.sort(key=lambda x: (-x["cost_usd"], *(str(x[k]) for k in keys)))
    return out


def _merge(rows: list[dict], key: str) -> list[dict]:
    merged: dict[str, dict] = {}
    for r in rows:
        m = merged.setdefault(r[key], {key: r[key], "cost_usd": 0.0, "requests": 0})
        m["cost_usd"] += r["cost_usd"]
        m["requests"] += r["requests"]
    return list(merged.values())


def _trend(days: list[dict]) -> dict:
    half = len(days) // 2
    if half == 0:
        return {"first_half_daily_usd": 0.0, "second_half_daily_usd": 0.0, "change_pct": None}
    first, second = days[:half], days[half:]
    first_daily = sum(d["cost_usd"] for d in first) / len(first)
    second_daily = sum(d["cost_usd"] for d in second) / len(second)
    change = round((second_daily - first_daily) / first_daily * 100, 2) if first_daily > 0 else None
    return {
        "first_half_daily_usd": money(first_daily),
        "second_half_daily_usd": money(second_daily),
        "change_pct": change,
    }


async def spend_overview(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> dict:
    """Spend, volume, latency, errors and trend of the window and scope, with breakdowns."""
    window = await resolve_window(store, org_id, start, end)
    params = {**window.params, **scope.params()}
    totals = (await store.query(sql.window_totals(scope), params))[0]
    latency = as_counts((await store.query(sql.latency_histogram(scope), params))[0]["latency_hist"])
    by_model_rows = await store.query(sql.by_model(scope), params)
    by_feature_rows = await store.query(sql.summary_by("feature", scope), params)
    days = await daily_costs(store, window, scope)

    total = money(totals["cost_usd"])
    # Latency percentiles come from the rollup's histogram (3 significant digits).
    p50 = quantile(latency, 0.5)
    p95 = quantile(latency, 0.95)
    # Error rate among calls whose status is known; None when no source reported one.
    status_requests = int(totals["status_requests"])
    error_rate = (
        round(int(totals["failed_requests"]) / status_requests, 6) if status_requests else None
    )
    for r in by_feature_rows:
        r["feature"] = r.pop("key")
    return {
        "period": window.as_period(),
        "scope": scope.as_dict(),
        "total_usd": total,
        "monthly_usd": money(window.monthly(total)),
        "requests": int(totals["requests"]),
        "input_tokens": int(totals["input_tokens"]),
        "output_tokens": int(totals["output_tokens"]),
        "cached_input_tokens": int(totals["cached_input_tokens"]),
        "latency_p50_ms": float(p50) if p50 is not None else None,
        "latency_p95_ms": float(p95) if p95 is not None else None,
        "error_rate": error_rate,
        "by_model": _shares(by_model_rows, total, ("model", "provider")),
        "by_provider": _shares(_merge(by_model_rows, "provider"), total, ("provider",)),
        "by_feature": _shares(by_feature_rows, total, ("feature",)),
        "daily": [{"day": d["day"], "cost_usd": money(d["cost_usd"]), "requests": d["requests"]} for d in days],
        "trend": _trend(days),
    }


__all__ = ["GROUP_BY", "data_profile", "spend_overview", "tag_names", "usage_summary"]
