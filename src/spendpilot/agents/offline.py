"""The offline model: deterministic intent, period and prose, with no network."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import date
from typing import TYPE_CHECKING

from spendpilot.agents.dates import period_from
from spendpilot.agents.grounding import Facts
from spendpilot.agents.intents import classify
from spendpilot.agents.report import render_markdown
from spendpilot.analytics.window import Period

if TYPE_CHECKING:
    from spendpilot.agents.conversation import Basis
    from spendpilot.agents.model import Tools

__all__ = ["OfflineModel", "period_from"]


class OfflineModel:
    name = "offline"

    async def triage(self, content: str, profile: dict, facts: Facts | None = None,
                     basis: Basis | None = None) -> dict:
        intent = classify(content)
        last = date.fromisoformat(profile["last_day"]) if profile.get("last_day") else None
        named = period_from(content, last)
        # Without a period of its own, the question keeps the previous answer's (or covers all stored usage).
        return {"intent": intent, "period": named or Period(), "period_said": named is not None, "notes": [],
                "rationale": f"Keywords in the question point to {intent.replace('_', ' ')}."}

    async def write_report(self, report: dict, intent: str, facts: Facts | None = None,
                           tools: Tools | None = None) -> AsyncGenerator[str, None]:
        # Its prose is rendered from the report itself, so it has nothing to check against the facts, and it
        # calls no tools. Streamed a section at a time, as a writer would produce it.
        for section in render_markdown(report, intent).split("\n\n"):
            yield section + "\n\n"

    async def ping(self) -> None:
        """Nothing to reach: the offline model is always available."""

    async def aclose(self) -> None:
        """Nothing to release."""
