"""Budgets as stored: create, read, change and delete an org's budgets, and what the API shows of one.

Where a budget stands (spent, forecast, state) is read from usage by analytics.budgets; this module
keeps the definitions and their notification targets. Another org's budget is not found.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from spendpilot.alerts.targets import shown_url
from spendpilot.analytics.budgets import BudgetSpec
from spendpilot.analytics.scope import Scope
from spendpilot.clock import iso, utcnow
from spendpilot.errors import NotFound
from spendpilot.ids import new_id
from spendpilot.store.database import Database
from spendpilot.store.models import AlertDelivery, Budget

DEFAULT_THRESHOLDS = (50, 80, 100)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def spec_of(budget: Budget) -> BudgetSpec:
    return BudgetSpec(id=budget.id, name=budget.name, amount_usd=float(budget.amount_usd),
                      scope=Scope.of(budget.scope), thresholds=tuple(sorted(budget.thresholds)), period=budget.period)


def budget_view(budget: Budget) -> dict:
    """A budget as the API shows it, without its secret."""
    return {"id": budget.id, "name": budget.name, "amount_usd": float(budget.amount_usd), "period": budget.period,
            "scope": Scope.of(budget.scope).as_dict(), "thresholds": sorted(budget.thresholds),
            "notify": {"webhook_url": budget.webhook_url,
                       "slack_webhook_url": shown_url(budget.slack_webhook_url, "slack")
                       if budget.slack_webhook_url else None},
            "created_at": iso(budget.created_at), "updated_at": iso(budget.updated_at)}


@dataclass(frozen=True)
class BudgetChanges:
    """What a PATCH changes; a field left as None stays as it is (URLs: "" removes the target)."""

    name: str | None = None
    amount_usd: float | None = None
    scope: Scope | None = None
    thresholds: tuple[int, ...] | None = None
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    secret: str | None = None


class BudgetBook:
    def __init__(self, db: Database):
        self.db = db

    async def create(self, *, org_id: str, user_id: str, name: str, amount_usd: float, scope: Scope,
                     thresholds: tuple[int, ...], webhook_url: str | None, slack_webhook_url: str | None,
                     secret: str | None) -> tuple[Budget, str]:
        """The new budget and its secret (generated unless given)."""
        now = utcnow()
        secret = secret or new_secret()
        budget = Budget(id=new_id("bdg"), org_id=org_id, name=name, amount_usd=amount_usd, period="month",
                        scope=scope.as_dict(), thresholds=sorted(set(thresholds)), webhook_url=webhook_url,
                        slack_webhook_url=slack_webhook_url, secret=secret, created_by=user_id,
                        created_at=now, updated_at=now)
        async with self.db.session() as s:
            s.add(budget)
            await s.commit()
        return budget, secret

    async def of_org(self, org_id: str) -> list[Budget]:
        async with self.db.session() as s:
            found = await s.scalars(select(Budget).where(Budget.org_id == org_id).order_by(Budget.created_at))
            return list(found)

    async def specs(self, org_id: str) -> list[BudgetSpec]:
        """The org's budgets as analytics reads them (the budget_status tool's source)."""
        return [spec_of(b) for b in await self.of_org(org_id)]

    async def get(self, org_id: str, budget_id: str) -> Budget:
        async with self.db.session() as s:
            budget = await s.get(Budget, budget_id)
        if budget is None or budget.org_id != org_id:
            raise NotFound.of("budget")
        return budget

    async def update(self, org_id: str, budget_id: str, changes: BudgetChanges) -> Budget:
        async with self.db.session() as s:
            budget = await s.get(Budget, budget_id)
            if budget is None or budget.org_id != org_id:
                raise NotFound.of("budget")
            fields: dict[str, Any] = {
                "name": changes.name, "amount_usd": changes.amount_usd, "secret": changes.secret,
                "scope": changes.scope.as_dict() if changes.scope is not None else None,
                "thresholds": sorted(set(changes.thresholds)) if changes.thresholds is not None else None}
            for key, value in fields.items():
                if value is not None:
                    setattr(budget, key, value)
            for key in ("webhook_url", "slack_webhook_url"):
                value = getattr(changes, key)
                if value is not None:
                    setattr(budget, key, value or None)
            budget.updated_at = utcnow()
            await s.commit()
            return budget

    async def delete(self, org_id: str, budget_id: str) -> None:
        """Removes the budget and stops its deliveries still waiting to be retried; its alerts stay listed."""
        async with self.db.session() as s:
            budget = await s.get(Budget, budget_id)
            if budget is None or budget.org_id != org_id:
                raise NotFound.of("budget")
            await s.execute(update(AlertDelivery)
                            .where(AlertDelivery.budget_id == budget_id, AlertDelivery.status == "pending")
                            .values(status="failed", last_error="the budget was deleted"))
            await s.delete(budget)
            await s.commit()

    async def orgs_with_budgets(self) -> list[str]:
        async with self.db.session() as s:
            return list(await s.scalars(select(Budget.org_id).distinct()))
