"""What a what-if question supposes: a traffic multiplier, new users, a horizon, a model to switch from and to.

Read from the question's words, the same way whichever model writes the prose, so the scenario a
tool is run with is the one the question states ("traffic triples" is 3x, "add 2,000 users" is
2,000 users, "switch gpt-4o to claude sonnet" names both models).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from spendpilot.analytics.catalog import BudgetArgs, CapacityArgs, ForecastArgs, ModelSwitchArgs
from spendpilot.analytics.pricing import resolve_model
from spendpilot.analytics.scope import WHOLE_ORG, Scope
from spendpilot.analytics.window import Period

DEFAULT_HORIZON_DAYS = 30

_WORD_FACTORS = {"double": 2.0, "doubles": 2.0, "doubled": 2.0, "doubling": 2.0, "twice": 2.0,
                 "triple": 3.0, "triples": 3.0, "tripled": 3.0, "tripling": 3.0, "thrice": 3.0,
                 "quadruple": 4.0, "quadruples": 4.0, "quadrupled": 4.0, "halve": 0.5, "halves": 0.5,
                 "halved": 0.5}
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "ten": 10}
_TIMES = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:x|×|times)(?!\w)|(?<!\w)x\s*(\d+(?:\.\d+)?)(?![\w.])", re.I)
_WORD_TIMES = re.compile(r"\b(two|three|four|five|ten)\s+times\b", re.I)
_PERCENT = re.compile(r"\b(grow|grows|growing|increase|increases|rise|rises|up|more|drop|drops|fall|falls|"
                      r"decrease|decreases|down|less|fewer)\b[^.%\d]{0,20}?(\d+(?:\.\d+)?)\s*%", re.I)
_PLUS_PERCENT = re.compile(r"([+-])\s*(\d+(?:\.\d+)?)\s*%")
_USERS = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(k|thousand|m|million)?\s+(?:more\s+|new\s+|additional\s+|extra\s+)?"
                    r"(?:users|customers|seats|people)\b", re.I)
_HORIZON = re.compile(r"\bnext\s+(?:(\d{1,3})\s+)?(day|week|month|quarter|year)s?\b", re.I)
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "quarter": 90, "year": 365}

# A model mention starts with one of these and goes on with version and variant words.
_MODEL_START = re.compile(r"^(gpt|chatgpt|o[1-9]|claude|gemini|gemma|sonnet|opus|haiku|mistral|mixtral|llama|"
                          r"deepseek|grok|command|qwen)", re.I)
_MODEL_MORE = re.compile(r"^(\d+(\.\d+)?[a-z]?|mini|nano|pro|flash|lite|turbo|sonnet|opus|haiku|large|small|medium|"
                         r"instruct|latest|r1|v3)$", re.I)


@dataclass(frozen=True)
class WhatIf:
    horizon_days: int = DEFAULT_HORIZON_DAYS
    traffic_multiplier: float = 1.0
    added_users: int = 0
    from_model: str | None = None
    to_model: str | None = None

    def describe(self) -> str:
        if self.to_model and self.traffic_multiplier == 1 and not self.added_users:
            return f"{self.from_model or 'the costliest model'} switched to {self.to_model}"
        return f"{self.scenario()}, over the next {self.horizon_days} days"

    def scenario(self) -> str:
        parts = []
        if self.traffic_multiplier != 1:
            parts.append(f"traffic at {self.traffic_multiplier:g}x")
        if self.added_users:
            parts.append(f"{self.added_users:,} more users")
        return " and ".join(parts) or "traffic as it is going"


def _multiplier(text: str) -> float:
    for word, factor in _WORD_FACTORS.items():
        if re.search(rf"\b{word}\b", text):
            return factor
    if found := _WORD_TIMES.search(text):
        return float(_NUMBER_WORDS[found.group(1).lower()])
    if found := _TIMES.search(text):
        return float(found.group(1) or found.group(2))
    if found := _PERCENT.search(text):
        shrink = found.group(1).lower() in {"drop", "drops", "fall", "falls", "decrease", "decreases", "down",
                                            "less", "fewer"}
        pct = float(found.group(2)) / 100
        return max(0.0, 1 - pct) if shrink else 1 + pct
    if found := _PLUS_PERCENT.search(text):
        pct = float(found.group(2)) / 100
        return 1 + pct if found.group(1) == "+" else max(0.0, 1 - pct)
    return 1.0


def _users(text: str) -> int:
    found = _USERS.search(text)
    if not found:
        return 0
    number = float(found.group(1).replace(",", ""))
    scale = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get((found.group(2) or "").lower(), 1)
    return int(number * scale)


def _horizon(text: str) -> int:
    found = _HORIZON.search(text)
    if not found:
        return DEFAULT_HORIZON_DAYS
    return min(366, int(found.group(1) or 1) * _UNIT_DAYS[found.group(2).lower()])


@dataclass(frozen=True)
class Mention:
    at: int  # position in the question
    said: str  # as the question says it, words joined by "-" ("claude-sonnet")
    model: str  # the price tables' model it resolves to ("claude-sonnet-4-5")


def model_mentions(text: str) -> list[Mention]:
    """Each model the text names, in order; a family name resolves to the family's newest model."""
    tokens = [(m.start(), m.group().strip(".,;:!?()\"'").lower()) for m in re.finditer(r"[\w.:/-]+", text)]
    out: list[Mention] = []
    i = 0
    while i < len(tokens):
        start, word = tokens[i]
        if not _MODEL_START.match(word):
            i += 1
            continue
        words = [word]
        while i + len(words) < len(tokens) and _MODEL_MORE.match(tokens[i + len(words)][1]):
            words.append(tokens[i + len(words)][1])
        # The longest run of words that names a model.
        for end in range(len(words), 0, -1):
            found = resolve_model(" ".join(words[:end]))
            if found is not None:
                out.append(Mention(start, "-".join(words[:end]), found["model"]))
                break
        i += len(words)
    return out


def _models(text: str) -> tuple[str | None, str | None]:
    """(current, target): the current model as the question says it (matched against the org's own
    model names later), the target as the price tables name it."""
    mentions = model_mentions(text)
    if not mentions:
        return None, None
    if len(mentions) == 1:
        return None, mentions[0].model
    current, target = mentions[0], mentions[1]
    instead = text.lower().find("instead of")
    if instead >= 0:
        # "use claude sonnet instead of gpt-4o": the model after "instead of" is the current one.
        after = next((m for m in mentions if m.at > instead), None)
        before = next((m for m in mentions if m is not after), None)
        if after is not None and before is not None:
            current, target = after, before
    return current.said, target.model


def read(question: str) -> WhatIf:
    text = question.lower()
    from_model, to_model = _models(question)
    return WhatIf(horizon_days=_horizon(text), traffic_multiplier=_multiplier(text), added_users=_users(text),
                  from_model=from_model, to_model=to_model)


def tool_args(tool: str, what: WhatIf, period: Period, scope: Scope = WHOLE_ORG) -> BaseModel | None:
    """The arguments a what-if tool is run with for this question and scope; None: nothing to run it on."""
    keys = scope.as_dict()
    if tool == "forecast_spend":
        return ForecastArgs(horizon_days=what.horizon_days, **keys)
    if tool == "budget_status":
        return BudgetArgs(**keys)
    if tool == "plan_capacity":
        if what.traffic_multiplier == 1 and not what.added_users:
            return None  # no scenario: the forecast itself answers
        return CapacityArgs(horizon_days=what.horizon_days, traffic_multiplier=what.traffic_multiplier,
                            added_users=what.added_users, **keys)
    if tool == "compare_models":
        if what.to_model is None:
            return None
        return ModelSwitchArgs(start=period.start, end=period.end, to_model=what.to_model, from_model=what.from_model,
                               **keys)
    raise KeyError(f"no arguments are known for the tool {tool!r}")
