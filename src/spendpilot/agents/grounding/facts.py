"""The figures a run's tools produced, each filed by kind and unit, and whether a claim is one of them.

A tool result is read by its field names, the way the analytics package names them:
- money (USD): `*_usd`, `*_per_mtok` and prices;
- percentages: `*_pct` as written, and fractions (`share`, `*_rate`, `*_discount`) times 100;
- multipliers: `ratio`, `*_ratio`;
- durations: `days`, `*_days`, `*_ms`, `*_s`;
- counts: `*tokens*` (tokens), `*requests*` and `*failures*` (requests), `rows` (rows), any other number,
  and the length of every list (a count of anything);
- dates: ISO date strings, and every {"from", "to"} pair as a period;
- text the tools wrote (titles, assumptions, caveats): the claims in it.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from spendpilot.agents.grounding.claims import Claim, Kind, claims_in

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FRACTION_FIELDS = ("share", "_rate", "discount", "fraction")
# The last word of a duration field's name and its length in seconds; "days" may stand anywhere (days_covered).
_DURATION_ENDINGS = {"ms": 0.001, "s": 1.0, "seconds": 1.0, "minutes": 60.0, "hours": 3600.0}
# Counts of a request, under any of the names a result gives them.
_REQUEST_WORDS = ("request", "failure", "retried", "calls")


def field_kind(key: str, parent: str = "") -> tuple[Kind, str | None, float]:
    """(kind, unit, factor to the claim's unit) of a numeric field, from its name."""
    name, words = key.lower(), key.lower().split("_")
    if name.endswith(("usd", "_price", "per_mtok")) or name == "price" or parent.endswith(("prices", "per_mtok")):
        return Kind.MONEY, "USD", 1.0
    if name.endswith("_pct") or name in ("pct", "percent"):
        return Kind.PERCENT, None, 1.0
    if name.endswith(_FRACTION_FIELDS):
        return Kind.PERCENT, None, 100.0
    if name == "ratio" or name.endswith(("_ratio", "multiplier")):
        return Kind.MULTIPLIER, None, 1.0
    if words[-1] in _DURATION_ENDINGS and len(words) > 1:
        return Kind.DURATION, None, _DURATION_ENDINGS[words[-1]]
    if "days" in words:
        return Kind.DURATION, None, 86400.0
    if "token" in name:
        return Kind.COUNT, "tokens", 1.0
    if any(word in name for word in _REQUEST_WORDS):
        return Kind.COUNT, "requests", 1.0
    if name == "rows" or name.endswith("_rows"):
        return Kind.COUNT, "rows", 1.0
    return Kind.COUNT, None, 1.0


@lru_cache(maxsize=8192)
def _readings(text: str) -> tuple[Claim, ...]:
    """The readings of a text's claims that ground figures: the same notes and titles come back in every run
    (results are cached per usage version), so each text is read once."""
    out = []
    for claim in claims_in(text):
        for reading in (claim, claim.alternative):  # a bare "2024" is both a year and a number
            if reading is None:
                continue
            if reading.kind != Kind.DATE or (reading.unit is None and reading.low > 0):  # a day, a month or a year
                out.append(reading)
    return tuple(out)


class Facts:
    """Grounded values of one run: filled by every tool result and by the code that derives new figures."""

    def __init__(self) -> None:
        self._values: dict[tuple[Kind, str | None], list[float]] = defaultdict(list)
        self._dirty: set[tuple[Kind, str | None]] = set()
        self._dates: set[int] = set()
        self._periods: list[tuple[int, int]] = []

    # --- what is grounded ----------------------------------------------------------------------------------------

    def add(self, kind: Kind, value: float, unit: str | None = None) -> None:
        """A figure the code computed (a sum, a share, a normalisation): it may be quoted."""
        if kind == Kind.DATE:
            raise ValueError("dates are added with add_date or add_period")
        if isinstance(value, bool) or not math.isfinite(value):
            return
        self._values[(kind, unit)].append(abs(float(value)))
        self._dirty.add((kind, unit))

    def add_date(self, day: date) -> None:
        self._dates.add(day.toordinal())

    def add_period(self, first: date, last: date) -> None:
        """A period: its ends are dates, and any day, month or year inside it may be named."""
        self._periods.append((first.toordinal(), last.toordinal()))
        self.add_date(first)
        self.add_date(last)
        self.add(Kind.DURATION, ((last - first).days + 1) * 86400.0)

    def add_text(self, text: str) -> None:
        """Text Spendpilot wrote from tool results (a title, a caveat): what it states may be repeated."""
        for reading in _readings(text):
            if reading.kind != Kind.DATE:
                self.add(reading.kind, reading.value, reading.unit)
            else:
                self._periods.append((int(reading.low), int(reading.high)))

    def add_result(self, value: object, key: str = "", parent: str = "") -> None:
        """Every figure in a tool result (JSON-like), filed by its field names."""
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            kind, unit, factor = field_kind(key, parent)
            self.add(kind, value * factor, unit)
        elif isinstance(value, str):
            self._add_string(value)
        elif isinstance(value, dict):
            self._add_period_of(value)
            for name, item in value.items():
                self.add_result(item, str(name), key)
        elif isinstance(value, (list, tuple)):
            self.add(Kind.COUNT, len(value))
            for item in value:
                self.add_result(item, key, parent)

    def with_text(self, text: str) -> Facts:
        """These facts and what `text` states: the user's own question may be restated to them."""
        merged = Facts()
        for (kind, unit), values in self._values.items():
            merged._values[(kind, unit)] = list(values)
            merged._dirty.add((kind, unit))
        merged._dates = set(self._dates)
        merged._periods = list(self._periods)
        merged.add_text(text)
        return merged

    def _add_string(self, text: str) -> None:
        if _ISO_DATE.fullmatch(text):
            try:
                self.add_date(date.fromisoformat(text))
            except ValueError:
                pass
        elif any(ch.isdigit() for ch in text):
            self.add_text(text)

    def _add_period_of(self, value: dict) -> None:
        start, end = value.get("from"), value.get("to")
        if isinstance(start, str) and isinstance(end, str) and _ISO_DATE.fullmatch(start) and _ISO_DATE.fullmatch(end):
            try:
                first, last = date.fromisoformat(start), date.fromisoformat(end)
            except ValueError:
                return
            if first <= last:
                self.add_period(first, last)

    # --- what is not ---------------------------------------------------------------------------------------------

    def grounds(self, claim: Claim) -> bool:
        """Whether some fact of the claim's kind and unit lies in the range the claim stands for."""
        if claim.kind == Kind.DATE:
            found = self._grounds_date(claim)
        else:
            found = any(self._within(key, claim.low, claim.high) for key in self._keys_for(claim))
        return found or (claim.alternative is not None and self.grounds(claim.alternative))

    def ungrounded(self, text: str) -> list[Claim]:
        """The claims in the text that no fact grounds, in order."""
        return [claim for claim in claims_in(text) if not self.grounds(claim)]

    def _keys_for(self, claim: Claim) -> Iterable[tuple[Kind, str | None]]:
        if claim.kind == Kind.COUNT and claim.unit is None:
            # A count that does not say what it counts may be any count, never money or a share.
            return [key for key in self._values if key[0] == Kind.COUNT]
        return [(claim.kind, claim.unit)]

    def _within(self, key: tuple[Kind, str | None], low: float, high: float) -> bool:
        values = self._values.get(key)
        if not values:
            return False
        if key in self._dirty:
            values.sort()
            self._dirty.discard(key)
        at = bisect.bisect_left(values, low)
        return at < len(values) and values[at] <= high

    def _grounds_date(self, claim: Claim) -> bool:
        if claim.unit == "month-day":  # no year written: any year the facts cover
            month, day = divmod(int(claim.value), 100)
            years = {date.fromordinal(d).year for d in self._dates}
            years |= {y for first, last in self._periods
                      for y in range(date.fromordinal(first).year, date.fromordinal(last).year + 1)}
            days = []
            for year in years:
                try:
                    days.append(date(year, month, day).toordinal())
                except ValueError:
                    continue
            return any(self._grounds_days(d, d) for d in days)
        return claim.low > 0 and self._grounds_days(int(claim.low), int(claim.high))

    def _grounds_days(self, first: int, last: int) -> bool:
        return any(first <= d <= last for d in self._dates) or any(
            first <= p_last and p_first <= last for p_first, p_last in self._periods)
