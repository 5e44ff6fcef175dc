"""The period a question names, read from its words: "last 30 days", "last week", "in November", ISO dates.

Relative periods end on the last day with usage (not today: the data may lag), so "last week" is the
seven days ending on the org's last day of usage (SPEC §13). A question that names no period returns
None, and the run keeps the period of the answer it follows; "all time" returns the open period.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from spendpilot.analytics.window import Period

_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 90, "year": 365}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "thirty": 30, "ninety": 90}
_COUNT = r"(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")"
_UNIT = r"(day|week|fortnight|month|quarter|year)s?"
_LAST_N = re.compile(rf"\b(?:last|past|previous|prior|trailing|recent)\s+{_COUNT}\s+{_UNIT}\b", re.I)
_LAST_UNIT = re.compile(r"\b(?:last|past|previous)\s+(day|week|fortnight|month|quarter|year)\b", re.I)
_THIS_UNIT = re.compile(r"\bthis\s+(week|month|year)\b", re.I)
_ISO = r"(\d{4}-\d{2}-\d{2})"
_RANGE = re.compile(rf"{_ISO}\s*(?:to|until|till|through|thru|-|–|—|\.\.)\s*{_ISO}", re.I)
_BETWEEN = re.compile(rf"\bbetween\s+{_ISO}\s+and\s+{_ISO}", re.I)
_SINCE = re.compile(rf"\b(?:since|from|after)\s+{_ISO}", re.I)
_ON = re.compile(rf"\bon\s+{_ISO}", re.I)
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH = re.compile(r"\b(?:in|for|during)\s+(" + "|".join(sorted(_MONTHS, key=len, reverse=True))
                    + r")\b\.?(?:\s+(\d{4}))?", re.I)
_ALL_TIME = re.compile(r"\b(all[- ]time|all (?:of )?(?:the |our |my )?(?:data|history|stored usage)|whole (?:history|"
                       r"period)|entire (?:history|period)|since (?:the )?(?:start|beginning)|ever recorded)\b", re.I)


def _count(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBER_WORDS[text.lower()]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _ending(last_day: date, days: int) -> Period:
    return Period(last_day - timedelta(days=days - 1), last_day)


def _month(found: re.Match, last_day: date) -> Period:
    month = _MONTHS[found.group(1).lower().rstrip(".")]
    year = int(found.group(2)) if found.group(2) else (last_day.year if month <= last_day.month else last_day.year - 1)
    first = date(year, month, 1)
    return Period(first, date(year, month, calendar.monthrange(year, month)[1]))


def periods_named(content: str, last_day: date | None) -> list[Period]:
    """Every period the question names, in the order written ("last week compared to 2026-11-01 to ...")."""
    if last_day is None:
        return []
    found: list[tuple[int, Period]] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match, period: Period | None) -> None:
        if period is None or any(a < match.end() and match.start() < b for a, b in taken):
            return
        taken.append((match.start(), match.end()))
        found.append((match.start(), period))

    for pattern in (_RANGE, _BETWEEN):
        for match in pattern.finditer(content):
            start, end = _day(match.group(1)), _day(match.group(2))
            add(match, Period(min(start, end), max(start, end)) if start and end else None)
    for match in _SINCE.finditer(content):
        start = _day(match.group(1))
        add(match, Period(start, last_day) if start else None)
    for match in _ON.finditer(content):
        day = _day(match.group(1))
        add(match, Period(day, day) if day else None)
    for match in _LAST_N.finditer(content):
        add(match, _ending(last_day, _count(match.group(1)) * _UNIT_DAYS[match.group(2).lower()]))
    for match in _LAST_UNIT.finditer(content):
        add(match, _ending(last_day, _UNIT_DAYS[match.group(1).lower()]))
    for match in _THIS_UNIT.finditer(content):
        unit = match.group(1).lower()
        if unit == "week":
            add(match, Period(last_day - timedelta(days=last_day.weekday()), last_day))
        elif unit == "month":
            add(match, Period(last_day.replace(day=1), last_day))
        else:
            add(match, Period(last_day.replace(month=1, day=1), last_day))
    for match in _MONTH.finditer(content):
        add(match, _month(match, last_day))
    return [period for _, period in sorted(found, key=lambda item: item[0])]


def period_from(content: str, last_day: date | None) -> Period | None:
    """The first period the question names; the open period for "all time"; None when it names none."""
    named = periods_named(content, last_day)
    if named:
        return named[0]
    if _ALL_TIME.search(content):
        return Period()
    return None


def last_week(last_day: date) -> Period:
    """The seven days ending on the last day with usage."""
    return _ending(last_day, 7)
