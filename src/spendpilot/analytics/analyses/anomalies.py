"""Spend anomalies: days that cost far more than the days around them."""

from __future__ import annotations

from datetime import date
from statistics import median

from ..store import AnalyticsStore
from ..window import daily_costs, money, resolve_window
from .common import Analysis

NEIGHBOUR_DAYS = 7  # each side
MIN_NEIGHBOURS = 5
MIN_RATIO = 2.5
MIN_EXCESS_USD = 1.0


async def find_anomalies(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None
) -> list[dict]:
    """Days whose cost is at least 2.5x the median of the surrounding two weeks.

    ``[{"day", "cost_usd", "baseline_usd", "ratio"}]``. A centred median ignores the
    spike itself and weekly rhythm, so a quiet weekend is not a baseline problem.
    """
    window = await resolve_window(store, org_id, start, end)
    days = await daily_costs(store, window)
    out = []
    for i, d in enumerate(days):
        around = [x["cost_usd"] for x in days[max(0, i - NEIGHBOUR_DAYS) : i] + days[i + 1 : i + 1 + NEIGHBOUR_DAYS]]
        if len(around) < MIN_NEIGHBOURS:
            continue
        baseline = median(around)
        if baseline <= 0:
            continue
        ratio = d["cost_usd"] / baseline
        if ratio >= MIN_RATIO and d["cost_usd"] - baseline >= MIN_EXCESS_USD:
            out.append(
                {
                    "day": d["day"],
                    "cost_usd": money(d["cost_usd"]),
                    "baseline_usd": money(baseline),
                    "ratio": round(ratio, 2),
                }
            )
    return out


ANALYSIS = Analysis(
    name="anomalies",
    run=find_anomalies,
    description="Days whose spend is far above the baseline.",
    kind="anomalies",
    intents=("cost_analysis", "general", "caching_audit", "model_comparison", "capacity_planning"),
)
