"""Hold model-written prose to the figures the tools produced: every dollar amount must be in the report."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

# "$1,234.56", "$ 12", "US$3.4k", "USD 120", "$1.2 million", "45.10 USD", "300 dollars".
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_SUFFIX = r"(?:[ ]?(?P<suffix>k|K|thousand|m|M|mn|million|bn|billion)\b)?"
FIGURE = re.compile(
    rf"(?:US\$|\$|\bUSD[ ]?)[ ]?(?P<num>{_NUMBER}){_SUFFIX}"
    rf"|(?P<num2>{_NUMBER})[ ]?(?:USD|dollars?)\b"
)
_NUMBER_IN_TEXT = re.compile(_NUMBER)
_MULTIPLIER = {None: 1.0, "k": 1e3, "K": 1e3, "thousand": 1e3, "m": 1e6, "M": 1e6, "mn": 1e6, "million": 1e6,
               "bn": 1e9, "billion": 1e9}
# Released text ends at a line break or a sentence end, where no figure can be half-written.
_BOUNDARY = re.compile(r"\n|[.!?:;][ ](?=\S)")


class InventedFigure(ValueError):
    """The prose states a dollar amount that no tool reported."""

    def __init__(self, figure: str):
        super().__init__(f"{figure} is not in the tool results")
        self.figure = figure


def report_numbers(value) -> list[float]:
    """Every number in the report JSON: numeric values, and numbers written inside its strings."""
    found: list[float] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, (int, float)):
            if math.isfinite(item):
                found.append(abs(float(item)))
        elif isinstance(item, str):
            found.extend(float(n.replace(",", "")) for n in _NUMBER_IN_TEXT.findall(item) if _parses(n))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _parses(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def figures_in(text: str) -> Iterable[tuple[str, float, int, float]]:
    """(as written, value, decimals shown, multiplier) for each dollar amount in the text."""
    for match in FIGURE.finditer(text):
        raw = match.group("num") or match.group("num2")
        digits = raw.replace(",", "")
        if not _parses(raw):
            continue
        decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
        yield match.group(0).strip(), float(digits), decimals, _MULTIPLIER[match.group("suffix")]


def is_grounded(value: float, decimals: int, multiplier: float, numbers: list[float]) -> bool:
    """True when some report number, rounded as the prose shows it, is the figure written."""
    tolerance = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(n / multiplier - value) <= tolerance for n in numbers)


def check(text: str, numbers: list[float]) -> None:
    for written, value, decimals, multiplier in figures_in(text):
        if not is_grounded(value, decimals, multiplier, numbers):
            raise InventedFigure(written)


class FigureGuard:
    """Checks streamed prose and releases it only up to a point where every figure in it is verified."""

    def __init__(self, report: dict):
        self.numbers = report_numbers(report)
        self._pending = ""
        self.released = ""

    def feed(self, delta: str) -> str:
        """Text now safe to show; raises InventedFigure as soon as a complete figure fails."""
        self._pending += delta
        cut = 0
        for boundary in _BOUNDARY.finditer(self._pending):
            cut = boundary.end()
        if not cut:
            return ""
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._release(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self._release(ready)

    def _release(self, ready: str) -> str:
        check(ready, self.numbers)
        self.released += ready
        return ready
