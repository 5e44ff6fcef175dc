"""The offline model: deterministic intent, period and prose, with no network."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from datetime import date, timedelta

from spendpilot.agents.grounding import Facts
from spendpilot.agents.intents import classify
from spendpilot.agents.report import render_markdown
from spendpilot.analytics.window import Period

_LAST_N = re.compile(r"last\s+(\d{1,3})\s+(day|week|month)s?", re.I)
_LAST_UNIT = re.compile(r"last\s+(day|week|month|quarter)\b", re.I)
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "quarter": 90}


def period_from(content: str, last_day: date | None) -> Period:
    """'last 30 days', 'last week', ... narrow the period; otherwise all stored usage."""
    if last_day is None:
        return Period()
    match = _LAST_N.search(content)
    days = None
    if match:
        days = int(match.group(1)) * _UNIT_DAYS[match.group(2).lower()]
    elif unit := _LAST_UNIT.search(content):
        days = _UNIT_DAYS[unit.group(1).lower()]
    if not days:
        return Period()
    return Period(last_day - timedelta(days=days - 1), last_day)


class OfflineModel:
    name = "offline"

    async def triage(self, content: str, profile: dict, facts: Facts | None = None) -> dict:
        intent = classify(content)
        last = date.fromisoformat(profile["last_day"]) if profile.get("last_day") else None
        period = period_from(content, last)
        return {"intent": intent, "period": period, "notes": [],
                "rationale": f"Keywords in the question point to {intent.replace('_', ' ')}."}

    async def write_report(self, report: dict, intent: str, facts: Facts | None = None) -> AsyncGenerator[str, None]:
        # Its prose is rendered from the report itself, so it has nothing to check against the facts.
        # Streamed a section at a time, as a writer would produce it.
        for section in render_markdown(report, intent).split("\n\n"):
            yield section + "\n\n"

    async def ping(self) -> None:
        """Nothing to reach: the offline model is always available."""

    async def aclose(self) -> None:
        """Nothing to release."""
