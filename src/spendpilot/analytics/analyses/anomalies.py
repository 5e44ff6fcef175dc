"""Spend anomalies: days that cost far more than the days around them (reports) or before them (alerts)."""

from __future__ import annotations

from datetime import date, timedelta
from statistics import median

from ..scope import WHOLE_ORG, Scope
from ..store import AnalyticsStore
from ..window import Window, daily_costs, money, resolve_window
from .common import Analysis

NEIGHBOUR_DAYS = 7  # each side
MIN_NEIGHBOURS = 5
MIN_RATIO = 2.5
MIN_EXCESS_USD = 1.0
# Alerts judge a day before it is over, so only against the days before it.
TRAILING_DAYS = 14


def spike(day: str, cost: float, around: list[float]) -> dict | None:
    """The anomaly a day's cost makes against the costs around it, or None when it is ordinary."""
    if len(around) < MIN_NEIGHBOURS:
        return None
    baseline = median(around)
    if baseline <= 0:
        return None
    ratio = cost / baseline
    if ratio < MIN_RATIO or cost - baseline < MIN_EXCESS_USD:
        return None
    return {"day": day, "cost_usd": money(cost), "baseline_usd": money(baseline), "ratio": round(ratio, 2)}


async def find_anomalies(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Days whose cost is at least 2.5x the median of the surrounding two weeks.

    ``[{"day", "cost_usd", "baseline_usd", "ratio"}]``. A centred median ignores the
    spike itself and weekly rhythm, so a quiet weekend is not a baseline problem.
    """
    window = await resolve_window(store, org_id, start, end)
    days = await daily_costs(store, window, scope)
    out = []
    for i, d in enumerate(days):
        around = [x["cost_usd"] for x in days[max(0, i - NEIGHBOUR_DAYS) : i] + days[i + 1 : i + 1 + NEIGHBOUR_DAYS]]
        if (found := spike(d["day"], d["cost_usd"], around)) is not None:
            out.append(found)
    return out


async def recent_anomalies(store: AnalyticsStore, org_id: str, last_day: date, scope: Scope = WHOLE_ORG,
                           days: int = 3) -> list[dict]:
    """The last `days` days up to `last_day` whose scope's spend is at least 2.5x the median of the two
    weeks before them (a day still in progress counts what it has spent so far)."""
    window = Window(org_id, last_day - timedelta(days=TRAILING_DAYS + days - 1), last_day)
    costs = await daily_costs(store, window, scope)
    out = []
    for i in range(TRAILING_DAYS, len(costs)):
        before = [x["cost_usd"] for x in costs[i - TRAILING_DAYS : i]]
        if (found := spike(costs[i]["day"], costs[i]["cost_usd"], before)) is not None:
            out.append(found)
    return out


ANALYSIS = Analysis(
    name="anomalies",
    run=find_anomalies,
    description="Days whose spend is far above the baseline.",
    kind="anomalies",
    intents=("cost_analysis", "caching_audit", "model_comparison", "capacity_planning", "period_comparison"),
)
