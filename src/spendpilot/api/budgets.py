"""Budgets over REST (SPEC §10): create (the secret shown once), list with spend, forecast and state, change, delete."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spendpilot.alerts.budgets import DEFAULT_THRESHOLDS, BudgetChanges, budget_view, spec_of
from spendpilot.alerts.targets import TargetRefused, check_reachable, check_syntax
from spendpilot.analytics.budgets import budget_status
from spendpilot.analytics.scope import Scope, ScopeError
from spendpilot.api.deps import BudgetReader, BudgetWriter, ServicesDep
from spendpilot.auth.permissions import allowed
from spendpilot.auth.service import Principal
from spendpilot.errors import Forbidden, InvalidInput
from spendpilot.services import Services
from spendpilot.store.models import Budget

router = APIRouter(tags=["budgets"])
MAX_BUDGETS_PER_ORG = 200


class ScopeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feature: str | None = Field(None, max_length=200)
    model: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=200)
    user: str | None = Field(None, max_length=200)
    tag: str | None = Field(None, max_length=200, description="name=value")

    def scope(self) -> Scope:
        try:
            return Scope.of(self.model_dump())
        except ScopeError as exc:
            raise InvalidInput("invalid_scope", str(exc)) from exc


class NotifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: str | None = Field(None, max_length=2048)
    slack_webhook_url: str | None = Field(None, max_length=2048)
    secret: str | None = Field(None, min_length=16, max_length=200)


Thresholds = list[int]


def _thresholds(value: Thresholds | None) -> Thresholds | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 10 or any(not 1 <= t <= 1000 for t in value):
        raise ValueError("thresholds must be 1 to 10 percentages between 1 and 1000")
    return sorted(set(value))


class BudgetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    amount_usd: float = Field(gt=0, le=1e12)
    period: Literal["month"] = "month"
    scope: ScopeBody = Field(default_factory=ScopeBody)
    thresholds: Thresholds = Field(default_factory=lambda: list(DEFAULT_THRESHOLDS))
    notify: NotifyBody = Field(default_factory=NotifyBody)

    _check_thresholds = field_validator("thresholds")(_thresholds)


class BudgetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    amount_usd: float | None = Field(None, gt=0, le=1e12)
    scope: ScopeBody | None = None
    thresholds: Thresholds | None = None
    # A URL set to "" or null removes that target; a field left out keeps it.
    notify: NotifyBody | None = None

    _check_thresholds = field_validator("thresholds")(_thresholds)


async def _target(services: Services, url: str | None) -> str | None:
    if not url:
        return None
    try:
        checked = check_syntax(url)
        settings = services.settings
        await check_reachable(checked, allow_private=settings.env != "production" or settings.webhook_allow_private)
    except TargetRefused as exc:
        raise InvalidInput("invalid_webhook_url", str(exc)) from exc
    return checked


def _may_manage_webhooks(principal: Principal, notify: NotifyBody | None, fields: set[str]) -> None:
    if notify is not None and fields and not allowed(principal.role, "webhooks.manage"):
        raise Forbidden("forbidden", f"your role ({principal.role}) may not set where alerts are sent "
                                     "(webhooks.manage)")


async def _with_status(services: Services, budget: Budget) -> dict:
    status = await budget_status(services.analytics, budget.org_id, spec_of(budget))
    return {**budget_view(budget), **status}


@router.post("/api/budgets", status_code=201)
async def create_budget(body: BudgetCreate, principal: BudgetWriter, services: ServicesDep):
    _may_manage_webhooks(principal, body.notify, body.notify.model_fields_set)
    book = services.alerts.budgets
    if len(await book.of_org(principal.org_id)) >= MAX_BUDGETS_PER_ORG:
        raise InvalidInput("too_many_budgets", f"an organisation may have at most {MAX_BUDGETS_PER_ORG} budgets")
    budget, secret = await book.create(
        org_id=principal.org_id, user_id=principal.user_id, name=body.name.strip() or "Budget",
        amount_usd=body.amount_usd, scope=body.scope.scope(), thresholds=tuple(body.thresholds),
        webhook_url=await _target(services, body.notify.webhook_url),
        slack_webhook_url=await _target(services, body.notify.slack_webhook_url), secret=body.notify.secret)
    services.alerts.evaluate_soon(principal.org_id)
    view = await _with_status(services, budget)
    # The only time the secret is shown: the receiver needs it to check signatures.
    view["notify"] = {**view["notify"], "secret": secret}
    return view


@router.get("/api/budgets")
async def list_budgets(principal: BudgetReader, services: ServicesDep):
    return [await _with_status(services, b) for b in await services.alerts.budgets.of_org(principal.org_id)]


@router.get("/api/budgets/{budget_id}")
async def get_budget(budget_id: str, principal: BudgetReader, services: ServicesDep):
    return await _with_status(services, await services.alerts.budgets.get(principal.org_id, budget_id))


@router.patch("/api/budgets/{budget_id}")
async def update_budget(budget_id: str, body: BudgetUpdate, principal: BudgetWriter, services: ServicesDep):
    notify = body.notify
    _may_manage_webhooks(principal, notify, notify.model_fields_set if notify else set())
    book = services.alerts.budgets
    await book.get(principal.org_id, budget_id)
    sent = notify.model_fields_set if notify else set()

    async def url(name: str) -> str | None:
        if notify is None or name not in sent:
            return None
        return await _target(services, getattr(notify, name)) or ""

    changes = BudgetChanges(name=body.name.strip() if body.name else None, amount_usd=body.amount_usd,
                            scope=body.scope.scope() if body.scope is not None else None,
                            thresholds=tuple(body.thresholds) if body.thresholds is not None else None,
                            webhook_url=await url("webhook_url"), slack_webhook_url=await url("slack_webhook_url"),
                            secret=notify.secret if notify else None)
    budget = await book.update(principal.org_id, budget_id, changes)
    services.alerts.evaluate_soon(principal.org_id)
    return await _with_status(services, budget)


@router.delete("/api/budgets/{budget_id}", status_code=204)
async def delete_budget(budget_id: str, principal: BudgetWriter, services: ServicesDep):
    await services.alerts.budgets.delete(principal.org_id, budget_id)
    return Response(status_code=204)
