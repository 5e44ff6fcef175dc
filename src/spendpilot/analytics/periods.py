"""Two periods side by side: what a scope spent in each, and which features, models, providers and users moved.

This is the `comparison` block of a period_comparison answer (SPEC §13). Each total is the usage
summary of its own `from`/`to` and scope, so it equals `GET /api/usage/summary` with the same filters;
the movers come from the same summaries grouped by each dimension, so the changes add up.
"""

from __future__ import annotations

from datetime import date, timedelta

from .queries import usage_summary
from .scope import WHOLE_ORG, Scope
from .store import AnalyticsStore
from .window import money

# The dimensions a change is explained by, in the order they are read.
DIMENSIONS: tuple[str, ...] = ("feature", "model", "provider", "user")
MAX_MOVERS = 10
# Attribution groups read per period and dimension: the biggest spenders, where every mover is.
MAX_GROUPS = 200


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends the day before `start` ("the week before")."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def change_pct(current: float, previous: float) -> float | None:
    """The change as a percentage of the previous value; None when there was nothing before."""
    if previous <= 0:
        return None
    return round((current - previous) / previous * 100, 2)


def _by_key(summary: dict) -> dict[str, float]:
    return {g["key"]: g["cost_usd"] for g in summary["groups"]}


async def compare_periods(store: AnalyticsStore, org_id: str, current: tuple[date, date],
                          previous: tuple[date, date], scope: Scope = WHOLE_ORG) -> dict:
    """The comparison block: both totals, the change in $ and %, and the movers, biggest |change| first."""
    movers: list[dict] = []
    totals: dict[str, float] = {}
    fields_present = False
    for dimension in DIMENSIONS:
        if scope.as_dict().get(dimension):
            continue  # one value by definition: nothing to compare within it
        now = await usage_summary(store, org_id, *current, group_by=dimension, limit=MAX_GROUPS, scope=scope)
        before = await usage_summary(store, org_id, *previous, group_by=dimension, limit=MAX_GROUPS, scope=scope)
        totals = {"current": now["total_usd"], "previous": before["total_usd"]}
        fields_present = True
        now_by, before_by = _by_key(now), _by_key(before)
        for key in sorted(set(now_by) | set(before_by)):
            if not key:
                continue  # calls that do not carry the field explain nothing
            cur, prev = now_by.get(key, 0.0), before_by.get(key, 0.0)
            change = money(cur - prev)
            if change == 0:
                continue
            movers.append({"dimension": dimension, "key": key, "current_usd": money(cur), "previous_usd": money(prev),
                           "change_usd": change, "change_pct": change_pct(cur, prev)})
    if not fields_present:
        # Every dimension is fixed by the scope: the totals alone.
        now = await usage_summary(store, org_id, *current, scope=scope)
        before = await usage_summary(store, org_id, *previous, scope=scope)
        totals = {"current": now["total_usd"], "previous": before["total_usd"]}
    movers.sort(key=lambda m: (-abs(m["change_usd"]), m["dimension"], m["key"]))
    change = money(totals["current"] - totals["previous"])
    return {
        "kind": "periods",
        "scope": scope.as_dict(),
        "current": {"from": current[0].isoformat(), "to": current[1].isoformat(), "total_usd": totals["current"]},
        "previous": {"from": previous[0].isoformat(), "to": previous[1].isoformat(),
                     "total_usd": totals["previous"]},
        "change_usd": change,
        "change_pct": change_pct(totals["current"], totals["previous"]),
        "movers": movers[:MAX_MOVERS],
    }
