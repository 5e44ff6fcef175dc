"""The analyses the optimization agent runs, one module each with its SQL; REGISTRY lists every one.

Adding an analysis is one module that declares `ANALYSIS = Analysis(...)` plus its line below.
"""

from __future__ import annotations

from datetime import date

from ..store import AnalyticsStore
from . import anomalies, batching, caching, outputs, retries, rightsizing
from .common import Analysis, by_savings
from .rightsizing import cheaper_model

REGISTRY: tuple[Analysis, ...] = (
    rightsizing.ANALYSIS,
    caching.ANALYSIS,
    batching.ANALYSIS,
    retries.ANALYSIS,
    outputs.ANALYSIS,
    anomalies.ANALYSIS,
)
BY_TOOL: dict[str, Analysis] = {a.tool: a for a in REGISTRY}
SAVINGS: tuple[Analysis, ...] = tuple(a for a in REGISTRY if a.kind == "savings")


def for_intent(intent: str) -> list[Analysis]:
    """The analyses that answer a question of this intent, in registry order."""
    return [a for a in REGISTRY if intent in a.intents]


async def run_all_analyses(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None
) -> list[dict]:
    """Every savings analysis's recommendations, largest monthly saving first."""
    findings: list[dict] = []
    for analysis in SAVINGS:
        findings.extend(await analysis.run(store, org_id, start, end))
    return by_savings(findings)


__all__ = ["BY_TOOL", "REGISTRY", "SAVINGS", "Analysis", "cheaper_model", "for_intent", "run_all_analyses"]
