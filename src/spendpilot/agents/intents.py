"""What a question can ask: each intent declared once, with what the LLM is told and the offline model's cue words.

Which analyses answer an intent is declared by the analyses themselves (analytics.analyses,
`intents=`); `analyses_for` reads it from there. Other catalogue tools an intent runs (a forecast,
a what-if) are named in its `tools`; the pipeline runs each in the agent the catalogue assigns it,
with arguments read from the question (agents.whatif). Adding an intent is one entry in INTENTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spendpilot.analytics.analyses import for_intent


@dataclass(frozen=True)
class IntentSpec:
    name: str
    # One line for the triage prompt: what questions of this intent are about.
    description: str
    # The offline model's cues, matched as substrings of the lower-cased question.
    cues: tuple[str, ...]
    # Catalogue tools (analytics.catalog.TOOLS) besides the analyses that answer it, in the order run.
    tools: tuple[str, ...] = ()


# In the order the offline model tries them: specific asks before the general cost question.
INTENTS: tuple[IntentSpec, ...] = (
    IntentSpec("data_import_help", "how to import or upload usage data, file formats",
               ("import", "upload", "format", "csv", "jsonl", "ingest", "how do i add")),
    IntentSpec("caching_audit", "prompt caching", ("cache", "caching", "cached")),
    IntentSpec("model_comparison", "comparing models, switching from one model to another, choosing a cheaper model",
               ("compare", " vs ", "versus", "which model", "cheaper model", "switch", "instead of", "move to",
                "migrate to", "replace "),
               tools=("compare_models",)),
    IntentSpec("capacity_planning", "forecasts, budgets, growth, what spend will be if traffic or users change",
               ("forecast", "capacity", "projection", "next month", "next quarter", "growth", "budget", "what if",
                "tripl", "doubl", "more users", "new users", "additional users", "000 users", "will we spend"),
               tools=("forecast_spend", "budget_status", "plan_capacity")),
    IntentSpec("cost_analysis", "where the money goes, how to spend less, a review of costs",
               ("cost", "spend", "analy", "saving", "save", "waste", "bill", "optimi", "expens")),
    IntentSpec("general", "anything else", ()),
)
# For typed answers (the LLM's triage output): exactly the names above.
Intent = Literal[tuple(i.name for i in INTENTS)]  # type: ignore[valid-type]
BY_NAME: dict[str, IntentSpec] = {i.name: i for i in INTENTS}


def classify(content: str) -> str:
    """The offline model's intent: the first whose cue appears in the question."""
    text = f" {content.lower()} "
    for intent in INTENTS:
        if any(cue in text for cue in intent.cues):
            return intent.name
    return "general"


def analyses_for(intent: str) -> list[str]:
    """The analysis tools (find_*) that answer this intent, in registry order."""
    return [analysis.tool for analysis in for_intent(intent)]


def prompt_lines() -> str:
    """The intents as the triage prompt lists them."""
    return "\n".join(f"- {i.name}: {i.description}" for i in INTENTS)
