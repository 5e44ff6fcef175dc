"""Where a monthly budget stands: spent so far, the month's forecast, its state and the thresholds crossed.

A budget is a definition (amount, scope, thresholds) kept by the app; this module only reads usage.
The period is the calendar month (UTC) that contains `today`. The month's forecast is what was spent
on its complete days plus the spend model's forecast of the days still open (analytics.forecast);
a day already partly spent counts at least what it has spent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta

from . import sql
from .forecast import history, utc_today
from .scope import Scope
from .store import AnalyticsStore
from .window import Window, money

# A forecast needs usage this recent: older history says nothing about this month.
STALE_AFTER_DAYS = 7
STATES = ("ok", "warning", "forecast_exceeded", "exceeded")


@dataclass(frozen=True)
class BudgetSpec:
    id: str
    name: str
    amount_usd: float
    scope: Scope
    thresholds: tuple[int, ...]
    period: str = "month"


# What a tool needs to list an org's budgets; the app provides it (alerts.budgets).
BudgetSource = Callable[[str], Awaitable[list[BudgetSpec]]]


def month_of(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following - timedelta(days=1)


def period_of(day: date) -> dict:
    start, end = month_of(day)
    return {"month": start.strftime("%Y-%m"), "from": start.isoformat(), "to": end.isoformat()}


async def _spent(store: AnalyticsStore, org_id: str, scope: Scope, start: date, end: date) -> float:
    if end < start:
        return 0.0
    params = {**Window(org_id, start, end).params, **scope.params()}
    return float((await store.query(sql.window_totals(scope), params))[0]["cost_usd"])


def state_of(amount: float, spent: float, forecast: float | None, thresholds: tuple[int, ...]) -> str:
    """exceeded: spent reached the amount; forecast_exceeded: the month is on course to; warning: a
    threshold below 100% was crossed; ok otherwise."""
    if spent >= amount:
        return "exceeded"
    if forecast is not None and forecast > amount:
        return "forecast_exceeded"
    if any(t < 100 and spent >= amount * t / 100 for t in thresholds):
        return "warning"
    return "ok"


async def budget_status(store: AnalyticsStore, org_id: str, spec: BudgetSpec, today: date | None = None) -> dict:
    today = today or utc_today()
    start, end = month_of(today)
    spent = await _spent(store, org_id, spec.scope, start, today)
    forecast = low = high = None
    past = await history(store, org_id, spec.scope, today)
    model = past.model()
    note = None
    if model is None:
        note = "not enough usage history for a forecast"
    elif past.end is None or past.end < today - timedelta(days=STALE_AFTER_DAYS):
        note = f"no usage in the last {STALE_AFTER_DAYS} days to forecast from"
    else:
        observed = await _spent(store, org_id, spec.scope, start, min(past.end, end))
        open_days = [d for d in (max(start, past.end + timedelta(days=1)) + timedelta(days=i) for i in range(32))
                     if d <= end]
        partial = await _spent(store, org_id, spec.scope, open_days[0], today) if open_days else 0.0
        mean, lo, hi = model.total(open_days)
        forecast, low, high = (money(observed + max(value, partial)) for value in (mean, lo, hi))
    crossed = [t for t in spec.thresholds if spent >= spec.amount_usd * t / 100]
    return {
        "current_period": period_of(today),
        "spent_usd": money(spent),
        "forecast_usd": forecast,
        "forecast_low_usd": low,
        "forecast_high_usd": high,
        "forecast_note": note,
        "spent_pct": round(spent / spec.amount_usd * 100, 2) if spec.amount_usd > 0 else None,
        "thresholds_crossed": crossed,
        "state": state_of(spec.amount_usd, spent, forecast, spec.thresholds),
    }
