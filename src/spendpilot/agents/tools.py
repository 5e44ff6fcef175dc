"""The agents' tools: typed wrappers over analytics queries, each with the summary its event shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from spendpilot.analytics import queries


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


ANALYSIS_TOOLS = {name: description for name, (_fn, description) in queries.ANALYSES.items()}

TOOLS: list[ToolSpec] = [
    ToolSpec("profile_usage", "triage", "Rows, days covered, providers, models, features and fields present."),
    ToolSpec("usage_summary", "data", "Spend, requests and tokens grouped by model, provider, feature or day."),
    ToolSpec("spend_overview", "data", "Totals, monthly run-rate, latency p50/p95, error rate, breakdowns and trend."),
    *(ToolSpec(name, "optimization", description) for name, description in ANALYSIS_TOOLS.items()),
]


async def profile_usage(store, org_id: str) -> dict:
    return await queries.data_profile(store, org_id)


async def usage_summary(store, org_id: str, period: Period, group_by: str) -> dict:
    return await queries.usage_summary(store, org_id, period.start, period.end, group_by=group_by)


async def spend_overview(store, org_id: str, period: Period) -> dict:
    return await queries.spend_overview(store, org_id, period.start, period.end)


async def run_analysis(name: str, store, org_id: str, period: Period) -> list[dict]:
    fn, _ = queries.ANALYSES[name]
    return await fn(store, org_id, period.start, period.end)


def summarize_findings(findings: Any) -> Any:
    """What a tool_completed event shows for an analysis: the findings' headline numbers."""
    if not isinstance(findings, list):
        return findings
    return {"findings": len(findings),
            "items": [{k: f.get(k) for k in ("id", "title", "kind", "monthly_savings_usd", "day", "cost_usd",
                                              "baseline_usd", "ratio") if k in f} for f in findings[:10]]}
