"""The tool catalogue: every question Spendpilot can ask of an org's usage, declared once with typed arguments.

The agents call these tools (each call shown as tool_executing/tool_completed), and any other
adapter (an MCP server, a REST route) reads the same declarations, so one tool gives the same
figures everywhere. Adding a tool is one entry in TOOLS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from spendpilot.analytics import queries
from spendpilot.analytics.analyses import REGISTRY, Analysis
from spendpilot.analytics.cache import cache_for
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


class SummaryArgs(PeriodArgs):
    group_by: str = Field("model", pattern=queries.GROUP_BY_PATTERN,
                          description=f"How to group spend: {queries.GROUP_BY_HELP}.")


class OrgUsage:
    """One caller's view of its org's usage: results cached under the usage version read at first use,
    so a run sees one consistent snapshot and repeated questions cost no queries."""

    def __init__(self, store: AnalyticsStore, org_id: str):
        self.store = store
        self.org_id = org_id
        self._version: int | None = None

    async def _cached(self, key: tuple, compute: Callable[[], Awaitable[Any]]) -> Any:
        cache = cache_for(self.store)
        if self._version is None:
            self._version = await cache.version(self.org_id)
        # Every org without usage gets the same (empty) answers: computed once for all of them.
        org_key = self.org_id if self._version else ""
        return await cache.get(org_key, self._version, key, compute)

    async def profile(self) -> dict:
        return await self._cached(("profile",), lambda: queries.data_profile(self.store, self.org_id))

    async def summary(self, period: Period, group_by: str) -> dict:
        return await self._cached(("summary", period, group_by), lambda: queries.usage_summary(
            self.store, self.org_id, period.start, period.end, group_by=group_by))

    async def overview(self, period: Period) -> dict:
        return await self._cached(("overview", period), lambda: queries.spend_overview(
            self.store, self.org_id, period.start, period.end))

    async def analysis(self, analysis: Analysis, period: Period) -> list[dict]:
        return await self._cached(("analysis", analysis.name, period),
                                  lambda: analysis.run(self.store, self.org_id, period.start, period.end))


def summarize_findings(findings: Any) -> Any:
    """What a tool_completed event shows for an analysis: the findings' headline numbers."""
    if not isinstance(findings, list):
        return findings
    return {"findings": len(findings),
            "items": [{k: f.get(k) for k in ("id", "title", "kind", "monthly_savings_usd", "day", "cost_usd",
                                              "baseline_usd", "ratio") if k in f} for f in findings[:10]]}


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
    return Tool(analysis.tool, "optimization", analysis.description, PeriodArgs,
                lambda usage, args: usage.analysis(analysis, args.period), summarize_findings)


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("profile_usage", "triage", "Rows, days covered, providers, models, features and fields present.",
         NoArgs, lambda usage, _args: usage.profile()),
    Tool("usage_summary", "data", "Spend, requests and tokens grouped by model, provider, feature, day, "
         "user, API key or a tag.",
         SummaryArgs, lambda usage, args: usage.summary(args.period, args.group_by)),
    Tool("spend_overview", "data", "Totals, monthly run-rate, latency p50/p95, error rate, breakdowns and trend.",
         PeriodArgs, lambda usage, args: usage.overview(args.period)),
    *(_analysis_tool(analysis) for analysis in REGISTRY),
)}
