"""The tool catalogue: every question Spendpilot can ask of an org's usage, declared once with typed arguments.

The agents call these tools (each call shown as tool_executing/tool_completed), and any other
adapter (an MCP server, a REST route) reads the same declarations, so one tool gives the same
figures everywhere. Adding a tool is one entry in TOOLS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from spendpilot.analytics import periods, queries, whatif
from spendpilot.analytics.analyses import REGISTRY, Analysis
from spendpilot.analytics.batch import batcher_for
from spendpilot.analytics.budgets import BudgetSource, budget_status
from spendpilot.analytics.cache import EMPTY, VersionedReads, cache_for
from spendpilot.analytics.forecast import MAX_HORIZON_DAYS, forecast_spend, utc_today
from spendpilot.analytics.scope import KEYS, WHOLE_ORG, Scope
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.analytics.window import Period


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeriodArgs(BaseModel):
    """A window of whole UTC days; an open end means as far as the org's usage goes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: date | None = Field(None, alias="from", description="First day (YYYY-MM-DD), inclusive.")
    end: date | None = Field(None, alias="to", description="Last day (YYYY-MM-DD), inclusive.")

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)

    def shown(self) -> dict:
        """The arguments as tool events and adapters show them ({"from", "to", ...})."""
        return self.model_dump(mode="json", by_alias=True)


class ScopeArgs(BaseModel):
    """The scope keys of a tool's arguments; tool events show each key that is set."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    feature: str | None = Field(None, description="Only usage of this feature.")
    model: str | None = Field(None, description="Only usage of this model.")
    provider: str | None = Field(None, description="Only usage of this provider.")
    user: str | None = Field(None, description="Only usage of this end user.")
    tag: str | None = Field(None, description="Only usage carrying this tag, as name=value.")

    @model_validator(mode="after")
    def _valid_scope(self) -> Self:
        Scope.of({key: getattr(self, key) for key in KEYS})  # raises ScopeError, a ValueError, on a bad value
        return self

    @model_serializer(mode="wrap")
    def _without_unset_scope(self, handler: Any) -> dict:
        shown = handler(self)
        return {k: v for k, v in shown.items() if k not in KEYS or v is not None}

    @property
    def scope(self) -> Scope:
        return Scope.of({key: getattr(self, key) for key in KEYS})


class ScopedArgs(PeriodArgs, ScopeArgs):
    """A period and a scope: {"from", "to", "feature", ...}."""


class SummaryArgs(ScopedArgs):
    group_by: str = Field("model", pattern=queries.GROUP_BY_PATTERN,
                          description=f"How to group spend: {queries.GROUP_BY_HELP}.")


class ForecastArgs(ScopeArgs):
    """The forecast starts the day after the org's last complete day of usage."""

    horizon_days: int = Field(30, ge=1, le=MAX_HORIZON_DAYS, description="Days to forecast.")


class CapacityArgs(ForecastArgs):
    traffic_multiplier: float = Field(1.0, gt=0, le=1000, description="Traffic relative to today's, e.g. 3.")
    added_users: int = Field(0, ge=0, le=100_000_000, description="New users at today's spend per active user.")


class ModelSwitchArgs(ScopedArgs):
    to_model: str = Field(min_length=1, max_length=100, description="The model (or family) to switch to.")
    from_model: str | None = Field(None, max_length=100, description="The model switched away from; default: "
                                   "the scope's costliest model.")


class BudgetArgs(ScopeArgs):
    """Budgets that bear on the scope: those whose own scope does not name another value for a key it sets."""

    budget_id: str | None = Field(None, max_length=40, description="One budget; default: every budget.")


class PeriodsArgs(ScopeArgs):
    """Two periods of the same scope, side by side; the previous one defaults to the days just before."""

    start: date = Field(alias="from", description="First day of the current period (YYYY-MM-DD).")
    end: date = Field(alias="to", description="Last day of the current period (YYYY-MM-DD).")
    previous_start: date | None = Field(None, alias="previous_from",
                                        description="First day of the period compared with; default: the "
                                                    "same number of days right before `from`.")
    previous_end: date | None = Field(None, alias="previous_to", description="Last day of that period.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start > self.end:
            raise ValueError("'from' must not be after 'to'")
        if (self.previous_start is None) != (self.previous_end is None):
            raise ValueError("give both 'previous_from' and 'previous_to', or neither")
        if self.previous_start and self.previous_end and self.previous_start > self.previous_end:
            raise ValueError("'previous_from' must not be after 'previous_to'")
        return self

    @property
    def previous(self) -> tuple[date, date]:
        if self.previous_start is not None and self.previous_end is not None:
            return self.previous_start, self.previous_end
        return periods.previous_period(self.start, self.end)


class OrgUsage:
    """One caller's view of its org's usage: results cached under the usage version read at first use,
    so a run sees one consistent snapshot and repeated questions cost no queries.

    `budgets` lists the org's budget definitions (kept by the app); `today` is the day forecasts and
    budgets count from (UTC today unless a caller fixes it).
    """

    def __init__(self, store: AnalyticsStore, org_id: str, budgets: BudgetSource | None = None,
                 today: date | None = None):
        self.store = store
        self.org_id = org_id
        self.budgets = budgets
        self.today = today or utc_today()
        self._version: Hashable | None = None

    async def _cached(self, key: tuple, compute: Callable[[AnalyticsStore], Awaitable[Any]]) -> Any:
        """`compute` reads through the version's memo: statements several tools ask run once per version."""
        cache = cache_for(self.store)
        if self._version is None:
            self._version = await cache.version(self.org_id)
        # Every org known to have no rows gets the same (empty) answers: computed once for all of them.
        org_key = "" if self._version == EMPTY else self.org_id
        reads = VersionedReads(cache, org_key, self._version)
        return await cache.get(org_key, self._version, key, lambda: compute(reads))

    async def warm(self, period: Period, scope: Scope = WHOLE_ORG) -> None:
        """Before the full analysis of the org's whole usage: have its reads filed in the cache, read together
        with the other orgs' runs waiting now (analytics.batch). Any other period or scope: nothing to do."""
        if not scope.is_whole_org:
            return
        cache = cache_for(self.store)
        if self._version is None:
            self._version = await cache.version(self.org_id)
        if self._version == EMPTY:
            return
        version = self._version
        await cache.get(self.org_id, version, ("warm", period),
                        lambda: batcher_for(self.store).warm(self.org_id, version, period))

    async def profile(self) -> dict:
        cache = cache_for(self.store)
        if self._version is None:
            self._version = await cache.version(self.org_id)
        if self._version != EMPTY:
            # Triage reads the profile first: runs starting together read it together (analytics.batch).
            version = self._version
            await cache.get(self.org_id, version, ("warm", "profile"),
                            lambda: batcher_for(self.store).warm_profile(self.org_id, version))
        return await self._cached(("profile",), lambda reads: queries.data_profile(reads, self.org_id))

    async def summary(self, period: Period, group_by: str, scope: Scope = WHOLE_ORG) -> dict:
        return await self._cached(("summary", period, group_by, scope), lambda reads: queries.usage_summary(
            reads, self.org_id, period.start, period.end, group_by=group_by, scope=scope))

    async def overview(self, period: Period, scope: Scope = WHOLE_ORG) -> dict:
        return await self._cached(("overview", period, scope), lambda reads: queries.spend_overview(
            reads, self.org_id, period.start, period.end, scope))

    async def analysis(self, analysis: Analysis, period: Period, scope: Scope = WHOLE_ORG) -> list[dict]:
        return await self._cached(("analysis", analysis.name, period, scope),
                                  lambda reads: analysis.run(reads, self.org_id, period.start, period.end, scope))

    async def compare_periods(self, args: PeriodsArgs) -> dict:
        current, previous = (args.start, args.end), args.previous
        return await self._cached(("periods", current, previous, args.scope), lambda reads: periods.compare_periods(
            reads, self.org_id, current, previous, args.scope))

    async def forecast(self, scope: Scope, horizon_days: int) -> dict:
        return await self._cached(("forecast", scope, horizon_days, self.today), lambda reads: forecast_spend(
            reads, self.org_id, scope, horizon_days, self.today))

    async def capacity(self, args: CapacityArgs) -> dict:
        return await self._cached(("capacity", args.scope, args.horizon_days, args.traffic_multiplier,
                                   args.added_users, self.today), lambda reads: whatif.capacity_scenario(
            reads, self.org_id, args.scope, args.horizon_days, args.traffic_multiplier, args.added_users,
            self.today))

    async def model_switch(self, args: ModelSwitchArgs) -> dict:
        return await self._cached(("model_switch", args.period, args.scope, args.from_model, args.to_model),
                                  lambda reads: whatif.model_switch(reads, self.org_id, args.to_model,
                                                                    args.from_model, args.start, args.end, args.scope))

    async def budget_status(self, budget_id: str | None = None, scope: Scope = WHOLE_ORG) -> list[dict]:
        """Each budget of the org (or the one asked for) that bears on the scope, with where it stands this
        month; not cached, since budgets change without usage changing. Without a budget source there are none."""
        if self.budgets is None:
            return []
        specs = [b for b in await self.budgets(self.org_id) if (budget_id is None or b.id == budget_id)
                 and bears_on(b.scope, scope)]
        return [{"id": b.id, "name": b.name, "amount_usd": b.amount_usd, "scope": b.scope.as_dict(),
                 "thresholds": list(b.thresholds),
                 **await budget_status(self.store, self.org_id, b, self.today)} for b in specs]


def bears_on(budget: Scope, question: Scope) -> bool:
    """Whether a budget's scope covers part of a question's: no key set in both names two different values."""
    mine, asked = budget.as_dict(), question.as_dict()
    return all(mine[key] == value for key, value in asked.items() if key in mine)


def summarize_findings(findings: Any) -> Any:
    """What a tool_completed event shows for an analysis: the findings' headline numbers."""
    if not isinstance(findings, list):
        return findings
    return {"findings": len(findings),
            "items": [{k: f.get(k) for k in ("id", "title", "kind", "monthly_savings_usd", "day", "cost_usd",
                                              "baseline_usd", "ratio") if k in f} for f in findings[:10]]}


def _without_daily(forecast: Any) -> Any:
    """A forecast as its tool_completed event shows it: the totals, not every day."""
    return {k: v for k, v in forecast.items() if k != "daily"} if isinstance(forecast, dict) else forecast


@dataclass(frozen=True)
class Tool:
    name: str
    agent: str  # which agent of the pipeline uses it
    description: str
    arguments: type[BaseModel]
    run: Callable[[OrgUsage, Any], Awaitable[Any]]
    # What its tool_completed event shows; None: the whole result.
    summarize: Callable[[Any], Any] | None = None


def _analysis_tool(analysis: Analysis) -> Tool:
    return Tool(analysis.tool, "optimization", analysis.description, ScopedArgs,
                lambda usage, args: usage.analysis(analysis, args.period, args.scope), summarize_findings)


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("profile_usage", "triage", "Rows, days covered, providers, models, features and fields present.",
         NoArgs, lambda usage, _args: usage.profile()),
    Tool("usage_summary", "data", "Spend, requests and tokens grouped by model, provider, feature, day, "
         "user, API key or a tag.",
         SummaryArgs, lambda usage, args: usage.summary(args.period, args.group_by, args.scope)),
    Tool("spend_overview", "data", "Totals, monthly run-rate, latency p50/p95, error rate, breakdowns and trend.",
         ScopedArgs, lambda usage, args: usage.overview(args.period, args.scope)),
    Tool("forecast_spend", "data", "Spend forecast for the coming days (trend and weekly pattern) with a 95% "
         "interval, or why there is too little history for one.",
         ForecastArgs, lambda usage, args: usage.forecast(args.scope, args.horizon_days), _without_daily),
    Tool("budget_status", "data", "Each monthly budget: spent so far, the month's forecast and its state.",
         BudgetArgs, lambda usage, args: usage.budget_status(args.budget_id, args.scope)),
    Tool("plan_capacity", "optimization", "Spend over the coming days if traffic grows by a factor or new "
         "users join, from the forecast and the measured spend per user.",
         CapacityArgs, lambda usage, args: usage.capacity(args)),
    Tool("compare_periods", "data", "Spend of one period against another (by default the days just before it), "
         "with the features, models, providers and users whose spend moved most.",
         PeriodsArgs, lambda usage, args: usage.compare_periods(args)),
    Tool("compare_models", "optimization", "The scope's own token mix on one model repriced at another "
         "model's list prices (a family name resolves to its newest model).",
         ModelSwitchArgs, lambda usage, args: usage.model_switch(args)),
    *(_analysis_tool(analysis) for analysis in REGISTRY),
)}
