"""The time window of a question: inclusive whole UTC days, defaulting to all stored usage.

`Period` is what a question asked for (either end may be open); `Window` is that period resolved
against an org's stored usage (both ends closed, bound to the org), which every query reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from . import sql
from .scope import WHOLE_ORG, Scope
from .store import AnalyticsStore

# Limits of ClickHouse's Date type: an open end of the window binds to these.
DATE_MIN = date(1970, 1, 1)
DATE_MAX = date(2149, 6, 6)


def money(value: float | None) -> float:
    """USD rounded the same way everywhere, so report and summary agree exactly."""
    return round(float(value or 0.0), 6)


@dataclass(frozen=True)
class Period:
    start: date | None = None
    end: date | None = None

    def args(self) -> dict:
        """As tool arguments and events show it: {"from", "to"}, ISO dates or null."""
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}

    async def resolve(self, store: AnalyticsStore, org_id: str) -> Window:
        return await resolve_window(store, org_id, self.start, self.end)


@dataclass(frozen=True)
class Window:
    org_id: str
    start: date | None  # resolved first day (None: the org has no usage)
    end: date | None

    @property
    def days(self) -> int:
        if self.start is None or self.end is None:
            return 0
        return (self.end - self.start).days + 1

    @property
    def params(self) -> dict:
        return {"org_id": self.org_id, "start": self.start or DATE_MIN, "end": self.end or DATE_MAX}

    def monthly(self, usd: float) -> float:
        """USD over the window normalised to 30 days."""
        return usd / self.days * 30 if self.days else 0.0

    def as_period(self) -> dict:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "days": self.days,
        }


def _as_date(value: date | str | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None


async def resolve_window(
    store: AnalyticsStore, org_id: str, start: date | str | None = None, end: date | str | None = None
) -> Window:
    """Fill an open end with the first/last day of the org's stored usage."""
    start, end = _as_date(start, "start"), _as_date(end, "end")
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start} is after end {end}")
    if start is None or end is None:
        bounds = (await store.query(sql.ORG_BOUNDS, {"org_id": org_id}))[0]
        if bounds["rows"]:
            given_start = start is not None
            start = start or date.fromisoformat(bounds["first_day"])
            end = end or date.fromisoformat(bounds["last_day"])
            if start > end:
                # The given end lies outside the stored usage: an empty one-day window
                # at the end the caller named.
                if given_start:
                    end = start
                else:
                    start = end
    return Window(org_id, start, end)


async def daily_costs(store: AnalyticsStore, window: Window, scope: Scope = WHOLE_ORG) -> list[dict]:
    """Every day of the window with the scope's cost (days without usage count as zero)."""
    rows = {r["day"]: r for r in await store.query(sql.daily(scope), {**window.params, **scope.params()})}
    out: list[dict] = []
    if window.start is None or window.end is None:
        return out
    day = window.start
    while day <= window.end:
        r = rows.get(day.isoformat())
        out.append(
            {
                "day": day.isoformat(),
                "cost_usd": float(r["cost_usd"]) if r else 0.0,
                "requests": int(r["requests"]) if r else 0,
            }
        )
        day += timedelta(days=1)
    return out
