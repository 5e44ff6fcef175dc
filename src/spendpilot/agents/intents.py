"""What a question can ask: each intent declared once, with what the LLM is told and the offline model's cues.

Which analyses answer an intent is declared by the analyses themselves (analytics.analyses,
`intents=`); `analyses_for` reads it from there. Other catalogue tools an intent runs (a forecast,
a what-if, a breakdown) are named in its `tools`; the pipeline runs each in the agent the catalogue
assigns it, with arguments from agents.plan. Adding an intent is one entry in INTENTS.
"""

from __future__ import annotations

import re
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
    # Cues that need more than a substring (a phrase with a gap in it), as one regular expression.
    pattern: str | None = None

    def matches(self, text: str) -> bool:
        """Whether the offline model reads the (lower-cased, space-padded) question as this intent."""
        return any(cue in text for cue in self.cues) or bool(self.pattern and re.search(self.pattern, text))


_KINDS = (r"(recommend\w*|finding|suggestion|cach\w*|batch\w*|retr(y|ies)|fail\w*|error|timeout|max.?tokens|"
          r"outputs?|right.?siz\w*|anomal\w*|spike|first|second|third|top (one|item)|#\d|number \d)")
_MOVED = (r"(jump\w*|ris(e|es|en)|rose|increas\w*|go(es|ne)? up|went up|grow\w*|grew|spik\w*|drop\w*|fall|fell|"
          r"decreas\w*|go(es|ne)? down|went down|chang\w*|doubl\w*|move\w*|climb\w*)")
_UNITS = r"(week|month|quarter|day|year|fortnight|period)"

# In the order the offline model tries them: specific asks before the general cost question.
INTENTS: tuple[IntentSpec, ...] = (
    IntentSpec("data_import_help", "how to import or upload usage data, file formats",
               ("import", "upload", "format", "csv", "jsonl", "ingest", "how do i add")),
    IntentSpec("finding_detail", "more about one finding or recommendation of an earlier answer (its evidence, "
               "assumptions and actions)", (),
               pattern=rf"\b(tell me (more|about)|more (about|on|detail)|explain|elaborate|dig into|drill (into|down)|"
                       rf"details? (of|on|about)|why (do|did|would) you (recommend|suggest)|walk me through|"
                       rf"what does|how (do|would|can) (we|i) (do|act on|implement))\b.*\b{_KINDS}"),
    IntentSpec("period_comparison", "how spend changed between two periods and why (what moved), e.g. last week "
               "compared to the week before",
               ("week over week", "month over month", "week-over-week", "month-over-month", "what changed",
                "what moved"),
               tools=("compare_periods",),
               pattern=rf"(\b{_UNITS} before\b|\b(previous|prior|preceding) {_UNITS}\b|"
                       rf"\b(compared?|vs\.?|versus|against) (to |with )?(the )?(last|previous|prior|this) {_UNITS}\b|"
                       rf"\bwhy (did|has|have|is|was|were|does|do)\b.{{0,60}}\b{_MOVED}\b|"
                       rf"\b(spend|spending|costs?|bill)\b.{{0,20}}\b{_MOVED}\b.{{0,30}}\b(last|this|previous) "
                       rf"{_UNITS}\b)"),
    IntentSpec("caching_audit", "prompt caching", ("cache", "caching", "cached")),
    IntentSpec("model_comparison", "comparing models, switching from one model to another, choosing a cheaper model",
               ("compare", " vs ", "versus", "which model", "cheaper model", "switch", "instead of", "move to",
                "migrate to", "replace "),
               tools=("compare_models",)),
    IntentSpec("capacity_planning", "forecasts, budgets, growth, what spend will be if traffic or users change",
               ("forecast", "capacity", "projection", "next month", "next quarter", "growth", "budget", "what if",
                "tripl", "doubl", "more users", "new users", "additional users", "000 users", "will we spend"),
               tools=("forecast_spend", "budget_status", "plan_capacity")),
    IntentSpec("breakdown", "where the money goes by team, feature, user, model or provider (a breakdown of spend)",
               ("break down", "breakdown", "broken down", "split by", "where does the money go", "where does our "
                "money go", "where the money goes", "who spends", "who is spending", "top spenders",
                "biggest spenders", "spend by", "costs by", "cost by", "spend per", "cost per"),
               tools=("usage_summary",),
               pattern=r"\b(by|per|for each|which) (team|feature|model|provider|vendor|user|customer|department|"
                       r"project|tag|day)s?\b"),
    IntentSpec("cost_analysis", "a review of costs: how to spend less, savings, waste",
               ("cost", "spend", "analy", "saving", "save", "waste", "bill", "optimi", "expens")),
    IntentSpec("general", "anything Spendpilot cannot answer from the organisation's LLM usage", ()),
)
# For typed answers (the LLM's triage output): exactly the names above.
Intent = Literal[tuple(i.name for i in INTENTS)]  # type: ignore[valid-type]
BY_NAME: dict[str, IntentSpec] = {i.name: i for i in INTENTS}


def classify(content: str) -> str:
    """The offline model's intent: the first whose cue appears in the question."""
    text = f" {' '.join(content.lower().split())} "
    for intent in INTENTS:
        if intent.matches(text):
            return intent.name
    return "general"


def follow_up_intent(read: str, previous: str | None, *, changed_something: bool) -> str:
    """A question that reads as nothing in particular but changes the scope or period ("now only the
    support-bot feature", "and for the last 7 days?") asks the previous question again on the new slice."""
    if read != "general" or not changed_something:
        return read
    if previous in (None, "general", "data_import_help"):
        return "cost_analysis"
    return previous


def analyses_for(intent: str) -> list[str]:
    """The analysis tools (find_*) that answer this intent, in registry order."""
    return [analysis.tool for analysis in for_intent(intent)]


def prompt_lines() -> str:
    """The intents as the triage prompt lists them."""
    return "\n".join(f"- {i.name}: {i.description}" for i in INTENTS)
