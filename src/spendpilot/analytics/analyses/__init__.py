"""The savings analyses the optimization agent runs, each a tool over the analytics store."""

from __future__ import annotations

from datetime import date
from typing import Awaitable, Callable

from ..store import AnalyticsStore
from .anomalies import find_anomalies
from .batching import find_batch_candidates
from .caching import find_prompt_caching
from .common import by_savings
from .outputs import find_oversized_outputs
from .retries import find_retry_waste
from .rightsizing import cheaper_model, find_model_rightsizing

Analysis = Callable[[AnalyticsStore, str, "date | None", "date | None"], Awaitable[list[dict]]]

# Name -> (function, one-line description). Each returns report-shaped recommendations.
ANALYSES: dict[str, tuple[Analysis, str]] = {
    "model_rightsizing": (
        find_model_rightsizing,
        "Premium models on short, simple calls that a cheaper model of the same family can serve.",
    ),
    "prompt_caching": (
        find_prompt_caching,
        "Long prompt prefixes repeated across calls without prompt caching.",
    ),
    "batch_api": (
        find_batch_candidates,
        "Scheduled, off-hours traffic paying interactive prices instead of the ~50% cheaper batch API.",
    ),
    "retry_waste": (
        find_retry_waste,
        "Spend on failed calls (errors, timeouts, rate limits) and the retries they trigger.",
    ),
    "oversized_outputs": (
        find_oversized_outputs,
        "max_tokens far above real outputs, and the runaway output tokens a tighter cap would cut.",
    ),
}


async def run_all_analyses(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None
) -> list[dict]:
    """Every analysis's recommendations, largest monthly saving first."""
    findings: list[dict] = []
    for fn, _ in ANALYSES.values():
        findings.extend(await fn(store, org_id, start, end))
    return by_savings(findings)


__all__ = [
    "ANALYSES",
    "cheaper_model",
    "find_anomalies",
    "find_batch_candidates",
    "find_model_rightsizing",
    "find_oversized_outputs",
    "find_prompt_caching",
    "find_retry_waste",
    "run_all_analyses",
]
