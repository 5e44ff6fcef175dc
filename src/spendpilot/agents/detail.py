"""One finding in depth: which recommendation a question asks about, and which analysis answers it.

"Tell me more about the caching recommendation" names a kind of finding; "explain the second one" names
a rank in the answer it follows. The analysis that finds that kind is run again within the run's scope,
and the finding it returns is the answer, with all its evidence, assumptions and actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spendpilot.analytics.analyses import REGISTRY

# What a question says -> the kind of finding (each savings analysis names its findings' kind after itself).
_KIND_WORDS: tuple[tuple[str, str], ...] = (
    (r"cach", "prompt_caching"),
    (r"batch", "batch_api"),
    (r"retr(y|ies)|fail|error|timeout|rate.?limit", "retry_waste"),
    (r"max.?tokens|output|runaway|\bcap\b", "oversized_outputs"),
    (r"right.?siz|smaller model|cheaper model|downgrad|sibling", "model_rightsizing"),
    (r"anomal|spike", "anomalies"),
)
_ORDINALS = {"first": 1, "1st": 1, "top": 1, "biggest": 1, "largest": 1, "second": 2, "2nd": 2, "third": 3,
             "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "last": -1}
_RANK = re.compile(r"(?:#|number\s+|no\.\s*|recommendation\s+)(\d{1,2})\b|\b(" + "|".join(_ORDINALS) + r")\b", re.I)
ANALYSIS_OF_KIND = {analysis.name: analysis for analysis in REGISTRY}


@dataclass(frozen=True)
class FindingAsked:
    """The finding a question is about: by kind, by rank in the earlier answer, or by the earlier finding's id."""

    kind: str | None = None
    rank: int | None = None
    # The id of the finding in the answer the question follows, when it could be told which.
    finding_id: str | None = None

    def tool(self) -> str | None:
        """The analysis tool that finds it; None: every savings analysis (which one is not known yet)."""
        return ANALYSIS_OF_KIND[self.kind].tool if self.kind in ANALYSIS_OF_KIND else None


def finding_asked(content: str, earlier: dict | None) -> FindingAsked:
    """Read which finding the question means; `earlier` is the report of the answer it follows, if any."""
    text = content.lower()
    kind = next((k for pattern, k in _KIND_WORDS if re.search(pattern, text)), None)
    rank = None
    if match := _RANK.search(text):
        rank = int(match.group(1)) if match.group(1) else _ORDINALS[match.group(2).lower()]
    recommendations = (earlier or {}).get("recommendations") or []
    chosen = None
    if rank is not None and recommendations:
        candidates = [r for r in recommendations if kind is None or r.get("kind") == kind]
        index = rank - 1 if rank > 0 else len(candidates) - 1
        if 0 <= index < len(candidates):
            chosen = candidates[index]
    elif kind is not None:
        chosen = next((r for r in recommendations if r.get("kind") == kind), None)
    elif recommendations:
        chosen = recommendations[0]
    if chosen is not None:
        return FindingAsked(kind=chosen.get("kind"), rank=rank, finding_id=chosen.get("id"))
    return FindingAsked(kind=kind, rank=rank)


def pick(findings: list[dict], asked: FindingAsked) -> dict | None:
    """The finding of a fresh analysis that answers the question: the same id as before, else the biggest."""
    if asked.finding_id is not None:
        for finding in findings:
            if finding.get("id") == asked.finding_id:
                return finding
    of_kind = [f for f in findings if asked.kind is None or f.get("kind") == asked.kind]
    return max(of_kind, key=lambda f: float(f.get("monthly_savings_usd", 0)), default=None)
