"""The agents' tools: typed wrappers over analytics queries, each with the summary its event shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from spendpilot.analytics import queries
from spendpilot.analytics.analyses import ANALYSES, find_anomalies
from spendpilot.analytics.cache import cache_for


@dataclass(frozen=True)
class Period:
    start: date | None = None
    end: date | None = None

    def args(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    agent: str
    description: str


# Tool name -> (analysis, description). Anomalies are not savings but are reported as caveats.
ANALYSIS_TOOLS = {f"find_{name}": (fn, description) for name, (fn, description) in ANALYSES.items()}
ANALYSIS_TOOLS["find_anomalies"] = (find_anomalies, "Days whose spend is far above the baseline.")

TOOLS: list[ToolSpec] = [
    ToolSpec("profile_usage", "triage", "Rows, days covered, providers, models, features and fields present."),
    ToolSpec("usage_summary", "data", "Spend, requests and tokens grouped by model, provider, feature or day."),
    ToolSpec("spend_overview", "data", "Totals, monthly run-rate, latency p50/p95, error rate, breakdowns and trend."),
    *(ToolSpec(name, "optimization", description) for name, (_fn, description) in ANALYSIS_TOOLS.items()),
]


class OrgUsage:
    """One run's view of its org's usage: results cached under the usage version read at first use,
    so a run sees one consistent snapshot and repeated questions cost no queries."""

    def __init__(self, store, org_id: str):
        self.store = store
        self.org_id = org_id
        self._version: int | None = None

    async def _cached(self, key: tuple, compute) -> Any:
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

    async def analysis(self, name: str, period: Period) -> list[dict]:
        fn, _ = ANALYSIS_TOOLS[name]
        return await self._cached(("analysis", name, period), lambda: fn(self.store, self.org_id, period.start,
                                                                          period.end))


def summarize_findings(findings: Any) -> Any:
    """What a tool_completed event shows for an analysis: the findings' headline numbers."""
    if not isinstance(findings, list):
        return findings
    return {"findings": len(findings),
            "items": [{k: f.get(k) for k in ("id", "title", "kind", "monthly_savings_usd", "day", "cost_usd",
                                              "baseline_usd", "ratio") if k in f} for f in findings[:10]]}
