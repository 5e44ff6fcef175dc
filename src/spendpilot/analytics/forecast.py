"""Spend forecast: a linear trend plus day-of-week seasonality fitted to recent weeks, with a prediction interval.

The model is fitted to the last (up to) eight weeks of complete days:

    cost(day) = f[weekday] * (a + b * t) + e

with t the day's index, f seven weekday factors averaging 1 (ratios of each weekday's spend to the
trend), and a, b fitted by least squares. Each forecast day gets the standard least-squares
prediction interval (Student's t, 95%), which widens with distance from the data.
The interval of a sum of days (a month, a horizon) is widened further for residuals that follow
each other (lag-1 autocorrelation), since daily spend rarely moves independently from day to day.

History ends on the org's last day with usage, or yesterday if usage arrives today (today is not
over yet). With fewer than two weeks of history, or a scope with spend on fewer than ten of its
days, there is no forecast: `data_sufficiency` is "insufficient" and every figure is null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from . import sql
from .scope import WHOLE_ORG, Scope
from .store import AnalyticsStore
from .window import Window, daily_costs, money

HISTORY_DAYS = 56
MIN_HISTORY_DAYS = 14
MIN_DAYS_WITH_SPEND = 10
SUFFICIENT_DAYS = 28
CONFIDENCE = 0.95
MAX_HORIZON_DAYS = 366
# A day further than this many robust standard deviations from the first fit is left out of the second.
OUTLIER_SIGMAS = 5.0
MAX_LEFT_OUT = 8
METHOD = ("Linear trend times day-of-week factors, fitted by least squares to the last {days} days "
          "({start} to {end}); 95% prediction interval that counts the uncertainty of the trend and the weekday "
          "factors and day-to-day correlation.")
_Z95 = 1.959963984540054


def utc_today() -> date:
    return datetime.now(UTC).date()


def _t_quantile(df: int) -> float:
    """Student's t two-sided 95% quantile (Cornish-Fisher expansion; within 0.5% for df >= 3)."""
    z = _Z95
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2) \
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)


def _weekday_factors(weekdays: np.ndarray, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Seven multiplicative weekday factors (mean 1), alternating with the trend they are measured against."""
    factors = np.ones(7)
    for _ in range(3):
        f = factors[weekdays]
        x = np.column_stack((f, f * t))
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        level = coef[0] + coef[1] * t
        for k in range(7):
            on_day = weekdays == k
            expected = float(level[on_day].sum())
            # A ratio of sums: one quiet or busy day moves its weekday's factor only a little.
            factors[k] = float(y[on_day].sum()) / expected if on_day.any() and expected > 0 else 1.0
        mean = factors.mean()
        factors = factors / mean if mean > 0 else np.ones(7)
    return factors


@dataclass(frozen=True)
class SpendModel:
    """Daily spend as factor[weekday] * (a + b * t) + noise; t counts days from the first day of history.

    Weekly seasonality is multiplicative (a quiet weekend stays proportionally quiet as traffic grows);
    the noise is additive, so the fit is least squares of y on (factor, factor * t).
    """

    first_day: date
    factors: np.ndarray
    coef: np.ndarray
    cov_unscaled: np.ndarray  # (X'X)^-1
    # Per weekday, the sum of the squared trend level over its days of history: how well its factor is known.
    factor_support: np.ndarray
    sigma: float
    df: int
    rho: float  # lag-1 autocorrelation of the residuals, between 0 and 0.9
    # Days left out of the fit as far off the usual (a spike is not the trend; an outage is not either).
    left_out: tuple[date, ...] = ()

    def row(self, day: date) -> np.ndarray:
        f = self.factors[day.weekday()]
        return np.array([f, f * (day - self.first_day).days])

    def level(self, day: date) -> float:
        """The trend before the weekday factor."""
        return float(self.coef[0] + self.coef[1] * (day - self.first_day).days)

    def _factor_variance(self, days: list[date]) -> float:
        """Variance (in units of sigma^2) that the estimated weekday factors add to the sum of these days.

        A factor measured from k days is off by about sigma / sqrt(sum of their squared levels), and
        every forecast day of that weekday shares the error.
        """
        per_weekday = np.zeros(7)
        for d in days:
            per_weekday[d.weekday()] += self.level(d)
        support = np.where(self.factor_support > 0, self.factor_support, np.inf)
        return float((per_weekday**2 / support).sum())

    @classmethod
    def fit(cls, first_day: date, costs: list[float]) -> SpendModel:
        """Fit, then refit without the day furthest off while it is far off (a spike, an outage), one at a time:
        a spike bends the first fit, so only the worst day is judged against it each round."""
        y = np.array(costs, dtype=float)
        t = np.arange(len(y), dtype=float)
        weekdays = np.array([(first_day + timedelta(days=i)).weekday() for i in range(len(y))])
        keep = np.ones(len(y), bool)
        model = cls._fit(first_day, t, y, weekdays, ())
        for _ in range(MAX_LEFT_OUT):
            residuals = np.abs(y - np.array([model.day_mean(first_day + timedelta(days=i)) for i in range(len(y))]))
            residuals[~keep] = 0.0
            robust_sigma = 1.4826 * float(np.median(residuals[keep]))
            worst = int(np.argmax(residuals))
            if robust_sigma <= 0 or residuals[worst] <= OUTLIER_SIGMAS * robust_sigma:
                break
            if int(keep.sum()) <= MIN_HISTORY_DAYS:
                break
            keep[worst] = False
            left_out = tuple(first_day + timedelta(days=int(i)) for i in np.flatnonzero(~keep))
            model = cls._fit(first_day, t[keep], y[keep], weekdays[keep], left_out)
        return model

    @classmethod
    def _fit(cls, first_day: date, t: np.ndarray, y: np.ndarray, weekdays: np.ndarray,
             left_out: tuple[date, ...]) -> SpendModel:
        factors = _weekday_factors(weekdays, t, y)
        x = np.column_stack((factors[weekdays], factors[weekdays] * t))
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        residuals = y - x @ coef
        levels = coef[0] + coef[1] * t
        support = np.array([float((levels[weekdays == k] ** 2).sum()) for k in range(7)])
        # Two trend coefficients and six free weekday factors were estimated from the data.
        df = max(1, len(y) - 8)
        squares = float(residuals @ residuals)
        rho = float(residuals[1:] @ residuals[:-1]) / squares if squares > 0 else 0.0
        return cls(first_day, factors, coef, np.linalg.pinv(x.T @ x), support, math.sqrt(squares / df), df,
                   min(max(rho, 0.0), 0.9), left_out)

    def day_mean(self, day: date) -> float:
        return float(self.row(day) @ self.coef)

    @property
    def trend_per_day(self) -> float:
        """USD per day the average day grows (or shrinks) by."""
        return float(self.coef[1])

    def day(self, day: date) -> tuple[float, float, float]:
        """(expected, low, high) USD for one day; never below zero."""
        x0 = self.row(day)
        mean = float(x0 @ self.coef)
        leverage = float(x0 @ self.cov_unscaled @ x0) + self._factor_variance([day])
        spread = _t_quantile(self.df) * self.sigma * math.sqrt(1 + leverage)
        return max(0.0, mean), max(0.0, mean - spread), max(0.0, mean + spread)

    def total(self, days: list[date]) -> tuple[float, float, float]:
        """(expected, low, high) USD for the sum of these days."""
        if not days:
            return 0.0, 0.0, 0.0
        s = sum((self.row(d) for d in days), np.zeros(2))
        mean = sum(self.day(d)[0] for d in days)
        # Noise of n correlated days (AR(1)-like) plus the uncertainty of the fitted trend and factors.
        noise = len(days) * (1 + self.rho) / (1 - self.rho)
        fitted = float(s @ self.cov_unscaled @ s) + self._factor_variance(days)
        spread = _t_quantile(self.df) * self.sigma * math.sqrt(noise + fitted)
        return mean, max(0.0, mean - spread), mean + spread


@dataclass(frozen=True)
class History:
    """The complete days a forecast learns from, and what they hold for the scope."""

    start: date | None
    end: date | None
    costs: list[float]

    @property
    def days_with_spend(self) -> int:
        return sum(1 for c in self.costs if c > 0)

    @property
    def sufficiency(self) -> str:
        if len(self.costs) < MIN_HISTORY_DAYS or self.days_with_spend < MIN_DAYS_WITH_SPEND:
            return "insufficient"
        return "sufficient" if len(self.costs) >= SUFFICIENT_DAYS else "partial"

    def model(self) -> SpendModel | None:
        if self.sufficiency == "insufficient" or self.start is None:
            return None
        return SpendModel.fit(self.start, self.costs)

    def shown(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None,
                "days": len(self.costs), "days_with_spend": self.days_with_spend}

    def method(self, model: SpendModel | None = None) -> str:
        text = METHOD.format(days=len(self.costs), start=self.start, end=self.end)
        if model is not None and model.left_out:
            days = ", ".join(d.isoformat() for d in model.left_out)
            text += (f" Left out of the fit as far from the usual: {days}; the forecast does not foresee "
                     "such days again.")
        return text


async def history(store: AnalyticsStore, org_id: str, scope: Scope = WHOLE_ORG,
                  today: date | None = None) -> History:
    """Up to eight weeks of the scope's daily spend, ending on the org's last complete day of usage."""
    today = today or utc_today()
    bounds = (await store.query(sql.ORG_BOUNDS, {"org_id": org_id}))[0]
    if not bounds["rows"]:
        return History(None, None, [])
    end = min(date.fromisoformat(bounds["last_day"]), today - timedelta(days=1))
    start = max(date.fromisoformat(bounds["first_day"]), end - timedelta(days=HISTORY_DAYS - 1))
    if start > end:
        return History(None, None, [])
    days = await daily_costs(store, Window(org_id, start, end), scope)
    return History(start, end, [d["cost_usd"] for d in days])


async def forecast_spend(store: AnalyticsStore, org_id: str, scope: Scope = WHOLE_ORG, horizon_days: int = 30,
                         today: date | None = None) -> dict:
    """The scope's spend over the next `horizon_days` days after its history (GET /api/usage/forecast)."""
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise ValueError(f"horizon_days must be between 1 and {MAX_HORIZON_DAYS}, got {horizon_days}")
    past = await history(store, org_id, scope, today)
    first = past.end + timedelta(days=1) if past.end else (today or utc_today())
    days = [first + timedelta(days=i) for i in range(horizon_days)]
    answer: dict = {"from": days[0].isoformat(), "to": days[-1].isoformat(), "horizon_days": horizon_days,
                    "scope": scope.as_dict(), "forecast_usd": None, "low_usd": None, "high_usd": None,
                    "confidence": CONFIDENCE, "method": past.method() if past.start else None,
                    "data_sufficiency": past.sufficiency, "history": past.shown(), "daily": []}
    model = past.model()
    if model is None:
        answer["method"] = None
        answer["reason"] = (f"A forecast needs at least {MIN_HISTORY_DAYS} days of usage with spend on "
                            f"{MIN_DAYS_WITH_SPEND} of them; {scope.describe()} has {len(past.costs)} days "
                            f"with spend on {past.days_with_spend}.")
        return answer
    total, low, high = model.total(days)
    answer.update(forecast_usd=money(total), low_usd=money(low), high_usd=money(high), method=past.method(model),
                  unusual_days=[d.isoformat() for d in model.left_out],
                  trend_usd_per_day=money(model.trend_per_day),
                  daily=[{"day": d.isoformat(), **dict(zip(("usd", "low_usd", "high_usd"),
                                                           map(money, model.day(d)), strict=True))}
                         for d in days])
    return answer
