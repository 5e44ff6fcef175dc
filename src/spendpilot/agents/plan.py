"""What triage decided for one run, and the arguments each catalogue tool is run with because of it.

Every tool that reads usage gets the run's period and scope as its arguments (`from`, `to` and each scope
key), so the tool events show exactly what was read (SPEC §13); profile_usage and price look-ups are the
only tools without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel

from spendpilot.agents import whatif
from spendpilot.agents.detail import FindingAsked
from spendpilot.analytics.catalog import PeriodsArgs, ScopedArgs, SummaryArgs
from spendpilot.analytics.scope import WHOLE_ORG, Scope
from spendpilot.analytics.window import Period


@dataclass
class Plan:
    intent: str
    # Both ends set: the days the answer covers (the current period of a comparison).
    period: Period
    scope: Scope
    sufficiency: str
    profile: dict
    notes: list[str] = field(default_factory=list)
    whatif: whatif.WhatIf = field(default_factory=whatif.WhatIf)
    # breakdown: what spend is grouped by ("feature", "tag:team", ...).
    dimension: str | None = None
    # period_comparison: the period compared with.
    previous: tuple[date, date] | None = None
    # finding_detail: which finding the question is about.
    finding: FindingAsked | None = None
    # The intent's own catalogue tools' results, by tool name.
    results: dict[str, Any] = field(default_factory=dict)
    # A follow-up: the scope keys it set (or cleared, None) and whether it named its own period.
    changes: dict[str, str | None] = field(default_factory=dict)
    period_changed: bool = False

    @property
    def has_data(self) -> bool:
        return self.sufficiency != "insufficient"

    def window(self) -> ScopedArgs:
        return ScopedArgs(start=self.period.start, end=self.period.end, **self.scope.as_dict())

    def summary(self, group_by: str) -> SummaryArgs:
        return SummaryArgs(start=self.period.start, end=self.period.end, group_by=group_by, **self.scope.as_dict())

    def tool_args(self, tool: str) -> BaseModel | None:
        """The arguments the intent's tool is run with; None: the question gives it nothing to run on."""
        if tool == "usage_summary":
            return self.summary(self.dimension or "feature")
        if tool == "compare_periods":
            if self.period.start is None or self.period.end is None:
                return None
            previous = self.previous or (None, None)
            return PeriodsArgs(start=self.period.start, end=self.period.end, previous_start=previous[0],
                               previous_end=previous[1], **self.scope.as_dict())
        return whatif.tool_args(tool, self.whatif, self.period, self.scope)


def clamp(period: Period, first: date | None, last: date | None) -> Period:
    """The period with open ends filled from the stored usage and both ends kept inside it; a period wholly
    outside the stored usage is kept as asked (it has no usage, and the answer says so)."""
    if first is None or last is None:
        return period
    start, end = period.start or first, period.end or last
    inside = Period(max(start, first), min(end, last))
    if inside.start is not None and inside.end is not None and inside.start <= inside.end:
        return inside
    return Period(start, end)


def describe_period(period: Period, first: date | None, last: date | None) -> str:
    if period.start is None or period.end is None:
        return "no stored usage yet"
    text = f"from {period.start.isoformat()} to {period.end.isoformat()}"
    if first is not None and last is not None and (period.start, period.end) == (first, last):
        return text + " (all stored usage)"
    return text


def describe_changes(changes: dict[str, str | None], period_changed: bool, scope: Scope = WHOLE_ORG) -> str:
    """What a follow-up changed, in words: 'feature set to support-bot, period kept'."""
    parts = [f"{key} set to {value}" if value is not None else f"{key} widened to all"
             for key, value in changes.items()]
    parts.append("period changed" if period_changed else "period kept")
    if not changes and scope.as_dict():
        parts.insert(0, "scope kept")
    return ", ".join(parts)
