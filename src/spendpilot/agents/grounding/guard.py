"""Holding model text to the facts: streamed prose released sentence by sentence, and structured answers checked.

Every piece of model text goes through one of two doors before it is stored or sent:
- `StreamGuard` for streamed prose: it holds back text that cannot be judged yet (a sentence still being
  written) and releases it once every claim in it is grounded; an ungrounded claim raises `Ungrounded`.
- `hold_output(text_of)` for a pydantic-ai agent's answer (and so for every turn of an agent): an output
  validator that asks the model to rewrite once, naming what was not grounded, and lets the last attempt
  through for the caller to judge with `Facts.ungrounded`.
What follows an ungrounded claim is the caller's policy, the same everywhere: rewrite once, then the
offline model's text for that piece, with a caveat from `describe` (which never repeats the figure).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from spendpilot.agents.grounding.claims import Claim, Kind
from spendpilot.agents.grounding.facts import Facts

if TYPE_CHECKING:
    from pydantic_ai import RunContext

Output = TypeVar("Output")

# Released text ends at a line break or a sentence end, where no claim can be half-written.
_BOUNDARY = re.compile(r"\n|[.!?:;][ ](?=\S)")
_ABBREVIATIONS = {"e.g", "i.e", "vs", "approx", "est", "no", "mr", "dr", "st", "u.s", "jan", "feb", "mar", "apr",
                  "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}


_NOUNS = {Kind.PERCENT: "percentage", Kind.MULTIPLIER: "multiplier", Kind.DURATION: "duration", Kind.DATE: "date"}


class Ungrounded(ValueError):
    """Model text states figures that no tool produced."""

    def __init__(self, claims: list[Claim]):
        super().__init__(f"{describe(claims)} that no tool produced")
        self.claims = claims


def describe(claims: list[Claim]) -> str:
    """What the claims are, for people ("2 dollar amounts and a percentage"); never the figures themselves."""
    counted = Counter(_noun(claim) for claim in claims)
    parts = [f"a{'n' if noun[0] in 'aeiou' else ''} {noun}" if n == 1 else f"{n} {_plural(noun)}"
             for noun, n in counted.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def rewrite_request(claims: list[Claim]) -> str:
    """What the model is told when it is asked to rewrite (the figures as it wrote them go back to it only)."""
    listed = "; ".join(f"{claim.written!r} ({_noun(claim)})" for claim in claims[:10])
    return (f"These figures are not in the tool results: {listed}. Write it again using only figures from the "
            "tool results, exactly as they are there (you may round them); say anything else in words.")


def _noun(claim: Claim) -> str:
    if claim.kind == Kind.MONEY:
        return "dollar amount" if claim.unit == "USD" else f"amount in {claim.unit}"
    if claim.kind == Kind.COUNT:
        return f"{claim.unit[:-1]} count" if claim.unit else "count"
    return _NOUNS[claim.kind]


def _plural(noun: str) -> str:
    return noun.replace("amount in", "amounts in") if noun.startswith("amount in") else noun + "s"


class StreamGuard:
    """Releases streamed prose only up to a point where every claim in it is grounded."""

    def __init__(self, facts: Facts):
        self.facts = facts
        self._pending = ""
        self.released = ""

    def feed(self, delta: str) -> str:
        """Text now safe to show; raises Ungrounded as soon as a complete sentence states an ungrounded figure."""
        self._pending += delta
        cut = 0
        for boundary in _BOUNDARY.finditer(self._pending):
            if not _after_abbreviation(self._pending, boundary.start()):
                cut = boundary.end()
        if not cut:
            return ""
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._release(ready)

    def finish(self) -> str:
        """The rest, once the answer is known to be complete; the whole text is judged once more as one."""
        ready, self._pending = self._pending, ""
        if claims := self.facts.ungrounded(self.released + ready):
            raise Ungrounded(claims)
        return self._release(ready)

    def _release(self, ready: str) -> str:
        if claims := self.facts.ungrounded(ready):
            raise Ungrounded(claims)
        self.released += ready
        return ready


def _after_abbreviation(text: str, at: int) -> bool:
    """'Nov. 21' or 'e.g. 5': a full stop that does not end a sentence."""
    if text[at] != ".":
        return False
    word = re.search(r"([A-Za-z.]+)$", text[:at])
    return word is not None and word.group(1).lower() in _ABBREVIATIONS


def hold_output(text_of: Callable[[Output], str]) -> Callable[[RunContext[Facts], Output], Output]:
    """A pydantic-ai output validator over `deps` (the run's Facts): one rewrite, naming what was not grounded.

    The last attempt passes through unchanged, so the caller keeps what else the answer decided (an intent, a
    period) and replaces only the ungrounded text.
    """

    # Imported here so that the offline model, which has nothing to validate, never loads pydantic-ai.
    from pydantic_ai import ModelRetry

    def validate(ctx: RunContext[Facts], output: Output) -> Output:
        claims = ctx.deps.ungrounded(text_of(output))
        if claims and not ctx.last_attempt:
            raise ModelRetry(rewrite_request(claims))
        return output

    return validate
