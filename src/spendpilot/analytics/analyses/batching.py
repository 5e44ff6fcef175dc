"""Batch API: scheduled, non-interactive traffic paying interactive prices."""

from __future__ import annotations

from datetime import date

from ..grouped import GroupedRead
from ..pricing import BATCH_DISCOUNT
from ..scope import WHOLE_ORG, Scope
from ..sql import COST, cost_if, window_read
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, Analysis, by_savings, feature_finding, monthly_note, usd

KIND = "batch_api"
# Nobody is waiting on a call made between 00:00 and 06:00 UTC in a feature that runs
# almost only then: that is a scheduled job, the shape batch APIs are built for.
OFF_HOURS_UTC = (0, 6)
MIN_OFF_HOURS_SHARE = 0.8
MIN_REQUESTS = 100
MIN_ACTIVE_DAYS = 3


# When interactive per-call traffic happens (UTC hour), per provider/model/feature.
_OFF_HOURS = "toHour(hour) >= {off_start:UInt8} AND toHour(hour) < {off_end:UInt8}"
HOURS = GroupedRead(
    (("provider", "provider"), ("model", "model"), ("feature", "feature")),
    (("requests", "toUInt64(sum(row_count))"),
     ("off_hours_requests", f"toUInt64(sumIf(row_count, {_OFF_HOURS}))"),
     ("active_days", "uniqExact(toDate(hour))"),
     ("cost_usd", COST),
     ("off_hours_cost_usd", cost_if(_OFF_HOURS))),
    rows="priced = 1 AND is_batch = 0 AND row_kind = 0",
)


def interactive_hours(scope: Scope = WHOLE_ORG) -> str:
    return window_read(HOURS, scope)


INTERACTIVE_HOURS = interactive_hours()


async def find_batch_candidates(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Features whose non-batch calls run almost only off-hours: move them to a batch API."""
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    params = {**window.params, **scope.params(), "off_start": OFF_HOURS_UTC[0], "off_end": OFF_HOURS_UTC[1]}
    findings = []
    for r in await store.query(interactive_hours(scope), params):
        discount = BATCH_DISCOUNT.get(r["provider"])
        requests = int(r["requests"])
        if not discount or requests < MIN_REQUESTS or int(r["active_days"]) < MIN_ACTIVE_DAYS:
            continue
        share = int(r["off_hours_requests"]) / requests
        if share < MIN_OFF_HOURS_SHARE:
            continue
        saving = window.monthly(r["off_hours_cost_usd"] * discount)
        if saving < MIN_MONTHLY_SAVINGS_USD:
            continue
        feature = r["feature"] or "(no feature)"
        findings.append(
            feature_finding(
                "batch", r,
                title=f"Run {feature} through the {r['provider']} Batch API",
                kind=KIND,
                monthly_savings_usd=saving,
                evidence={
                    "requests": requests,
                    "off_hours_requests": int(r["off_hours_requests"]),
                    "off_hours_share": round(share, 4),
                    "active_days": int(r["active_days"]),
                    "current_cost_usd": money(r["cost_usd"]),
                    "off_hours_cost_usd": money(r["off_hours_cost_usd"]),
                    "batch_discount": discount,
                    "period": window.as_period(),
                },
                assumptions=[
                    f"Rule: at least {MIN_OFF_HOURS_SHARE:.0%} of a feature's non-batch calls fall between "
                    f"{OFF_HOURS_UTC[0]:02d}:00 and {OFF_HOURS_UTC[1]:02d}:00 UTC on {MIN_ACTIVE_DAYS}+ days, "
                    "so it is a scheduled job whose results can wait up to the batch API's 24-hour window.",
                    f"The {r['provider']} batch API bills {discount:.0%} less than interactive calls; only the "
                    "off-hours calls are counted as movable.",
                    "Timestamps are UTC; a team working at night UTC would need this checked.",
                    PRICE_NOTE,
                    monthly_note(window),
                ],
                actions=[
                    f"Collect the {feature} requests into a JSONL file and submit it to the batch endpoint "
                    "at the job's start time.",
                    "Poll for completion and publish the results when the batch finishes (usually well within 24 h).",
                    f"Expected cost: about {usd(window.monthly(r['off_hours_cost_usd'] * (1 - discount)))}/month "
                    f"for the off-hours part instead of {usd(window.monthly(r['off_hours_cost_usd']))}/month.",
                ],
            )
        )
    return by_savings(findings)


ANALYSIS = Analysis(
    name="batch_api",
    run=find_batch_candidates,
    description="Scheduled, off-hours traffic paying interactive prices instead of the ~50% cheaper batch API.",
    kind="savings",
    intents=("cost_analysis",),
)
