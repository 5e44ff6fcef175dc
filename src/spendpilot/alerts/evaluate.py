"""The alert rules, and recording what fires exactly once with the deliveries it needs.

For an org with budgets, each evaluation checks:
- each budget's thresholds against this month's spend: one alert per (budget, month, threshold);
- each budget's month forecast against its amount while spend is still below it: one per (budget, month);
- the last three days of spend of the whole org and of each budget's scope against the two weeks
  before each day: one alert per (scope, day).

Every candidate has a dedupe key, unique in the database. Evaluations run in any process at any time
(after an import, on the periodic sweep, on several instances at once); whichever inserts the key
first fires the alert, together with its deliveries in the same transaction, and every other
insert of it is a no-op. Usage imported twice changes nothing, so it fires nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from spendpilot.alerts import messages
from spendpilot.alerts.budgets import budget_view, spec_of
from spendpilot.analytics.analyses.anomalies import recent_anomalies
from spendpilot.analytics.budgets import budget_status, period_of
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.clock import iso, utcnow
from spendpilot.ids import new_id
from spendpilot.store.database import Database
from spendpilot.store.models import Alert, AlertDelivery, Budget

ANOMALY_DAYS = 3


@dataclass
class Candidate:
    """An alert the rules call for; fired only if its key is new."""

    type: str
    key: str
    scope: dict
    payload: dict  # the event without id and occurred_at
    budget: Budget | None = None
    period: str | None = None
    threshold: int | None = None
    day: str | None = None
    # Budgets whose targets receive it.
    recipients: list[Budget] = field(default_factory=list)

    @property
    def dedupe_key(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()


async def candidates(analytics: AnalyticsStore, org_id: str, budgets: list[Budget], today: date) -> list[Candidate]:
    found: list[Candidate] = []
    period = period_of(today)
    for budget in budgets:
        spec = spec_of(budget)
        view = budget_view(budget)
        status = await budget_status(analytics, org_id, spec, today)
        figures = {"spent_usd": status["spent_usd"], "forecast_usd": status["forecast_usd"], "period": period}
        for threshold in status["thresholds_crossed"]:
            found.append(Candidate(
                messages.THRESHOLD_CROSSED, f"threshold|{budget.id}|{period['month']}|{threshold}", view["scope"],
                {"budget": view, "threshold": threshold, **figures}, budget, period["month"], threshold,
                recipients=[budget]))
        forecast = status["forecast_usd"]
        if forecast is not None and forecast > spec.amount_usd > status["spent_usd"]:
            found.append(Candidate(
                messages.FORECAST_EXCEEDED, f"forecast|{budget.id}|{period['month']}", view["scope"],
                {"budget": view, "threshold": None, **figures, "forecast_low_usd": status["forecast_low_usd"],
                 "forecast_high_usd": status["forecast_high_usd"]}, budget, period["month"], recipients=[budget]))
    scopes: dict[str, Scope] = {Scope().key(): Scope()}
    for budget in budgets:
        scopes.setdefault(spec_of(budget).scope.key(), spec_of(budget).scope)
    for key, scope in scopes.items():
        for anomaly in await recent_anomalies(analytics, org_id, today, scope, days=ANOMALY_DAYS):
            watching = [b for b in budgets if spec_of(b).scope == scope]
            found.append(Candidate(
                messages.ANOMALY, f"anomaly|{org_id}|{key}|{anomaly['day']}", scope.as_dict(),
                {"budget": None, "threshold": None, "spent_usd": anomaly["cost_usd"], "forecast_usd": None,
                 "period": {"from": anomaly["day"], "to": anomaly["day"]}, "scope": scope.as_dict(),
                 "day": anomaly["day"], "baseline_usd": anomaly["baseline_usd"], "ratio": anomaly["ratio"]},
                day=anomaly["day"], recipients=watching))
    return found


def _deliveries(alert_id: str, org_id: str, body: dict, recipients: list[Budget], now: datetime,
                window: timedelta) -> list[dict]:
    out = []
    for budget in recipients:
        # Each recipient's copy names its budget and is signed with its secret.
        addressed = {**body, "budget": messages.budget_summary(budget_view(budget))}
        for channel, url, content in (("webhook", budget.webhook_url, addressed),
                                      ("slack", budget.slack_webhook_url, messages.slack_body(addressed))):
            if not url:
                continue
            encoded = messages.encode(content)
            out.append({"id": new_id("dlv"), "alert_id": alert_id, "org_id": org_id, "budget_id": budget.id,
                        "channel": channel, "url": url, "body": encoded.decode(),
                        "signature": messages.sign(encoded, budget.secret), "status": "pending", "attempts": 0,
                        "next_attempt_at": now, "deadline_at": now + window, "created_at": now})
    return out


async def record(db: Database, org_id: str, found: list[Candidate], retry_window: timedelta) -> list[str]:
    """Insert the alerts not fired yet, each with its deliveries; returns the ids of those this call fired."""
    if not found:
        return []
    async with db.session() as s:
        fired_before = set(await s.scalars(select(Alert.dedupe_key)
                                           .where(Alert.dedupe_key.in_([c.dedupe_key for c in found]))))
    insert = pg_insert if db.engine_name == "postgresql" else sqlite_insert
    fired: list[str] = []
    for candidate in found:
        if candidate.dedupe_key in fired_before:
            continue
        now = utcnow()
        alert_id = new_id("alt")
        body = messages.event(alert_id=alert_id, type=candidate.type, occurred_at=iso(now) or "",
                              **candidate.payload)
        row = {"id": alert_id, "org_id": org_id, "type": candidate.type, "dedupe_key": candidate.dedupe_key,
               "budget_id": candidate.budget.id if candidate.budget else None, "scope": candidate.scope,
               "period": candidate.period, "threshold": candidate.threshold, "day": candidate.day,
               "payload": body, "created_at": now}
        async with db.session() as s:
            # Another process may have fired it since the read above: its row wins, this one is dropped.
            result = await s.execute(insert(Alert).values(**row).on_conflict_do_nothing(index_elements=["dedupe_key"]))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                await s.rollback()
                continue
            deliveries = _deliveries(alert_id, org_id, body, candidate.recipients, now, retry_window)
            if deliveries:
                await s.execute(insert(AlertDelivery), deliveries)
            await s.commit()
        fired.append(alert_id)
    return fired
