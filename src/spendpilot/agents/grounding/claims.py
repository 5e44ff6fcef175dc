"""Every quantitative claim in a text: amounts of money, percentages, counts, multipliers, durations, dates.

`claims_in(text)` reads what a writer states, whatever the form: "$1.2M", "1.2 million dollars",
"48k USD", "48,200$", "forty-eight thousand dollars", "€48,200", "63 percent", "1.2 million requests",
"3.1x", "90 days", "2026-11-21", "Nov 21, 2026". Numbers that only name something are not claims:
model names (gpt-4o, claude-sonnet-4-5), list markers ("1. "), labels ("step 2", "p95", "HTTP 429"),
times of day, versions, and rate denominators ("per 1M tokens").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from spendpilot.agents.grounding.numbers import (
    ATTACHED_MAGNITUDE,
    ATTACHED_MAGNITUDES,
    DIGITS,
    SCALE_WORDS,
    SPACED_MAGNITUDE,
    WORD_NUMBER,
    read_digits,
    read_words,
)


class Kind(StrEnum):
    MONEY = "money"  # unit: ISO currency code
    PERCENT = "percent"  # in percentage points: 14.1 for 14.1%
    COUNT = "count"  # unit: requests, tokens, rows, or None for a count of anything
    MULTIPLIER = "multiplier"
    DURATION = "duration"  # in seconds
    DATE = "date"  # as a range of day ordinals; unit "month-day" when no year is written


@dataclass(frozen=True)
class Claim:
    """One figure as written, with the range of true values it stands for (see the tolerance rule)."""

    written: str
    kind: Kind
    value: float
    unit: str | None
    low: float
    high: float
    start: int
    end: int
    # Another way to read the same words: a bare "2026" is a year, or a count of 2026 things.
    alternative: Claim | None = None
    # What one written unit is worth ("2 million dollars": 1e6; "6 weeks": 604,800 s), and whether nothing
    # after the number said what it is: a range's bare first number ("10" in "10-15%") reads like its second.
    scale: float = 1.0
    bare: bool = False


# --- how units are written ------------------------------------------------------------------------------------------

_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR", "C$": "CAD", "CA$": "CAD",
            "A$": "AUD", "AU$": "AUD"}
_CODES = ("USD", "EUR", "GBP", "JPY", "CAD", "AUD", "CHF", "INR", "CNY")
_CURRENCY_WORDS = {"dollar": "USD", "dollars": "USD", "bucks": "USD", "euro": "EUR", "euros": "EUR",
                   "pound": "GBP", "pounds": "GBP", "yen": "JPY", "rupee": "INR", "rupees": "INR",
                   "cent": "USD", "cents": "USD", **{code.lower(): code for code in _CODES}}
_CURRENCY_LEFT = re.compile(r"(US\$|CA\$|AU\$|C\$|A\$|[$€£¥₹]|\b(?:" + "|".join(_CODES) + r"))[ \u00a0]?[-−+~]?$")
_CURRENCY_RIGHT = re.compile(r"[ \u00a0]?([$€£¥₹¢])(?![ \u00a0]?\d)"
                             r"|[ \u00a0]+(?:US |U\.S\. )?(" + "|".join(_CURRENCY_WORDS) + r")\b(?: sterling\b)?",
                             re.IGNORECASE)
_PERCENT_RIGHT = re.compile(r"[ \u00a0]?%|[ \u00a0-]+(?:percent(?:age points?)?|per[ ]?cent|pct|pp)\b", re.IGNORECASE)
_MULTIPLIER_RIGHT = re.compile(r"[x×](?![A-Za-z0-9])|[ \u00a0]×|[ \u00a0]+times\b|[ -]fold\b", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "millisecond": 0.001, "s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0,
            "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0, "wk": 604800.0,
            "week": 604800.0, "mo": 2592000.0, "month": 2592000.0, "yr": 31536000.0, "year": 31536000.0,
            "quarter": 7776000.0}
_DURATION_NOUN = (r"(milliseconds?|ms|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?|yrs?"
                  r"|quarters?)")
_DURATION_RIGHT = re.compile(r"(ms|secs?|mins?|h|hrs?|d|wks?|mos?|yrs?)(?![A-Za-z])"  # attached: 12ms, 90d
                             r"|[ \u00a0-]+(?:(?:calendar|full|whole|business|working|consecutive|more|additional|"
                             rf"straight|past|last|next)[ ]+)?{_DURATION_NOUN}\b", re.IGNORECASE)
_COUNT_UNITS = {"request": "requests", "call": "requests", "invocation": "requests", "completion": "requests",
                "response": "requests", "reply": "requests", "replie": "requests", "query": "requests",
                "querie": "requests", "retry": "requests", "retrie": "requests", "failure": "requests",
                "error": "requests", "message": "requests", "token": "tokens", "mtok": "tokens", "row": "rows",
                "record": "rows"}
# Nouns that end the look for a unit: "3 models handle 14,200 requests" counts models, not requests.
_OTHER_NOUNS = {"model", "feature", "provider", "user", "team", "recommendation", "change", "finding", "step",
                "action", "prefix", "prefixe", "key", "day", "week", "month", "year", "of", "than", "more", "less",
                "per"}
_ORDINAL = re.compile(r"(st|nd|rd|th)(?![A-Za-z])")
_ATTACHED_LETTERS = re.compile(r"[A-Za-z]")

# --- numbers that only name something ------------------------------------------------------------------------------

_LIST_MARKER = re.compile(r"(?:^|\n)[ \t]*(?:[-*+][ \t]+)?(?:#{1,6}[ \t]+)?(?:\*\*)?$")
_LABEL_BEFORE = re.compile(r"\b(?:step|phase|option|tier|level|version|rank|priority|section|item|no\.|number|"
                           r"recommendation|finding|action|"
                           r"http|status|code|error|port|line|figure|chapter|part|top|bottom|"
                           # model families written with a space: "Gemini 2.5 Flash", "Llama 3.1"
                           r"gpt|claude|gemini|llama|mistral|mixtral|sonnet|haiku|opus|qwen|deepseek|phi|grok)"
                           r"[ \u00a0]*#?$", re.IGNORECASE)
_DENOMINATOR_BEFORE = re.compile(r"\bper[ \u00a0]+$|/$", re.IGNORECASE)
_COMPOUND_CHARS = set("-_.:/\u2010\u2011")  # with the hyphens typesetters use inside names (GPT‑4o)

# --- dates --------------------------------------------------------------------------------------------------------

_MONTH = (r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:tember|t)?"
          r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_MONTHS = {name.lower(): number for number in range(1, 13)
           for name in (calendar.month_name[number], calendar.month_abbr[number])} | {"sept": 9}
_DATES = (
    ("ymd", re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b|\b(\d{4})/(\d{1,2})/(\d{1,2})\b")),
    ("mdy", re.compile(rf"\b{_MONTH}\.?[ \u00a0]+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?[ \u00a0]+(\d{{4}})\b)?")),
    ("dmy", re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[ \u00a0]+(?:of[ ]+)?{_MONTH}\b\.?"
                       r"(?:,?[ \u00a0]+(\d{4})\b)?")),
    ("my", re.compile(rf"\b{_MONTH}\.?,?[ \u00a0]+(\d{{4}})\b")),
)
_NUMERAL = re.compile(rf"(?<![\d.]){DIGITS}(?!\d)")


@dataclass(frozen=True)
class _Reading:
    kind: Kind
    unit: str | None
    scale: float  # what one written unit is worth in the claim's unit (magnitude, cents, seconds)
    end: int
    bare: bool = False  # nothing after the number said what it counts


def claims_in(text: str) -> list[Claim]:
    """Every claim in the text, in order."""
    claims: list[Claim] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return not any(start < e and s < end for s, e in taken)

    def keep(claim: Claim | None) -> None:
        if claim is not None:
            claims.append(claim)
            taken.append((claim.start, claim.end))

    for date_claim in _dates(text):
        if free(date_claim.start, date_claim.end):
            keep(date_claim)
    for match in _NUMERAL.finditer(text):
        if free(*match.span()):
            keep(_numeral_claim(text, match))
    for match in WORD_NUMBER.finditer(text):
        if free(*match.span()):
            keep(_word_claim(text, match))
    return _share_units(text, sorted(claims, key=lambda c: c.start))


def _numeral_claim(text: str, match: re.Match) -> Claim | None:
    start, end = match.span()
    before = text[max(0, start - 40):start]
    number, place = read_digits(match.group())
    currency = _CURRENCY_LEFT.search(before)
    magnitude = 1.0
    if (attached := ATTACHED_MAGNITUDE.match(text, end)) or (spaced := SPACED_MAGNITUDE.match(text, end)):
        found = attached or spaced
        assert found is not None
        word = found.group(1)
        magnitude = ATTACHED_MAGNITUDES.get(word) or SCALE_WORDS[word.lower()]
        end = found.end()
    reading = _read_unit(text, end, currency.group(1) if currency else None)
    if reading is None or _only_names(text, start, match.end(), before, reading):
        return None
    claim_start = start - len(currency.group(0)) if currency else start
    if reading.bare and magnitude == 1.0 and "," not in match.group() and "." not in match.group() \
            and 1900 <= number <= 2100:
        return _year(text, claim_start, reading.end, int(number))
    return _claim(text, claim_start, reading, number, place, magnitude)


def _word_claim(text: str, match: re.Match) -> Claim | None:
    read = read_words(match.group())
    if read is None:
        return None
    number, place = read
    currency = _CURRENCY_LEFT.search(text[max(0, match.start() - 10):match.start()])
    reading = _read_unit(text, match.end(), currency.group(1) if currency else None)
    if reading is None:
        return None
    return _claim(text, match.start(), reading, number, place)


def _claim(text: str, start: int, reading: _Reading, number: float, place: float, magnitude: float = 1.0) -> Claim:
    scale = reading.scale * magnitude
    low, high = _tolerance(number, place, scale)
    return Claim(text[start:reading.end], reading.kind, number * scale, reading.unit, low, high, start, reading.end,
                 scale=scale, bare=reading.bare)


def _tolerance(number: float, place: float, scale: float) -> tuple[float, float]:
    """The tolerance rule, applied: the claim stands for every value within half a unit of its last place."""
    value, half = number * scale, 0.5 * place * scale
    # A hair of slack so that binary floating point never decides a tie.
    slack = 1e-9 * max(1.0, abs(value))
    return value - half - slack, value + half + slack


def _only_names(text: str, start: int, end: int, before: str, reading: _Reading) -> bool:
    """Whether the number at start:end names something (a model, a label, a time) rather than stating a figure."""
    if _LIST_MARKER.search(before) and re.match(r"[.)](?:\*\*)?[ \t]", text[end:end + 5]):
        return True
    # A label's number is bare ("step 2", "HTTP 429"); "the top 5%" or "option 2 saves $5" still state figures.
    if reading.kind not in (Kind.MONEY, Kind.PERCENT) and (_LABEL_BEFORE.search(before) or before.endswith("#")):
        return True
    if _DENOMINATOR_BEFORE.search(before):
        return True
    if re.match(r"[.:]\d|/\d", text[end:end + 2]):
        return True  # a version, an address, a time of day, a ratio or fraction: 1.2.3, 14:00, 24/7
    if re.search(r"\d[:/]$", before):
        return True
    # Part of a word that has letters before the number: gpt-4o, claude-sonnet-4-5, llama3.1:8b, v2, Q3;
    # but "Savings:48,200" is a label and a figure.
    i = start
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in _COMPOUND_CHARS):
        i -= 1
    joined = text[i:start]
    if _CURRENCY_LEFT.search(joined):  # "USD1,200": a currency code, not a name
        return False
    return any(ch.isalpha() for ch in joined) and not re.fullmatch(r"[A-Za-z]+:", joined)


def _read_unit(text: str, end: int, currency_left: str | None) -> _Reading | None:
    """What the words after a number say it is; None when the number is part of a name (4o, 5xx, 3rd)."""
    if currency_left:
        code = _SYMBOLS.get(currency_left) or currency_left.upper()
        right = _CURRENCY_RIGHT.match(text, end)  # "$48,200 USD": one claim
        return _Reading(Kind.MONEY, code, 1.0, right.end() if right else end)
    if right := _CURRENCY_RIGHT.match(text, end):
        word = (right.group(1) or right.group(2)).lower()
        if word in ("¢", "cent", "cents"):
            return _Reading(Kind.MONEY, "USD", 0.01, right.end())
        return _Reading(Kind.MONEY, _SYMBOLS.get(word) or _CURRENCY_WORDS[word], 1.0, right.end())
    if right := _PERCENT_RIGHT.match(text, end):
        return _Reading(Kind.PERCENT, None, 1.0, right.end())
    if right := _MULTIPLIER_RIGHT.match(text, end):
        return _Reading(Kind.MULTIPLIER, None, 1.0, right.end())
    if right := _DURATION_RIGHT.match(text, end):
        word = (right.group(1) or right.group(2)).lower()
        unit = word if word in _SECONDS else word.rstrip("s")
        return _Reading(Kind.DURATION, None, _SECONDS[unit], right.end())
    if _ORDINAL.match(text, end) or _ATTACHED_LETTERS.match(text, end):
        return None
    if compound := re.match(r"-([A-Za-z]+)", text[end:end + 30]):
        noun = _singular(compound.group(1))
        if noun in _COUNT_UNITS:  # "a 3,100-token prefix"
            return _Reading(Kind.COUNT, _COUNT_UNITS[noun], 1.0, end + compound.end())
        if noun not in _OTHER_NOUNS:
            return None  # "3-step", "4-turbo": part of a name
        return _Reading(Kind.COUNT, None, 1.0, end)
    words = re.match(r"(?:[ \u00a0]+[A-Za-z][A-Za-z'-]*){1,3}", text[end:end + 60])
    for word in words.group().split() if words else []:
        noun = _singular(word)
        if noun in _COUNT_UNITS:
            return _Reading(Kind.COUNT, _COUNT_UNITS[noun], 1.0, end)
        if noun in _OTHER_NOUNS or word.lower() in _OTHER_NOUNS:
            return _Reading(Kind.COUNT, None, 1.0, end)
    return _Reading(Kind.COUNT, None, 1.0, end, bare=True)


def _singular(word: str) -> str:
    word = word.lower().split("-")[-1].strip("'")
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _year(text: str, start: int, end: int, year: int) -> Claim:
    as_count = _claim(text, start, _Reading(Kind.COUNT, None, 1.0, end), float(year), 1.0)
    first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
    return Claim(text[start:end], Kind.DATE, first, None, first, last, start, end, alternative=as_count)


def _dates(text: str) -> list[Claim]:
    found = []
    for form, pattern in _DATES:
        for match in pattern.finditer(text):
            groups = [g for g in match.groups() if g is not None]
            if form == "ymd":
                year, month, day = (int(g) for g in groups)
            elif form == "mdy":
                month, day, year = _MONTHS[groups[0].lower()], int(groups[1]), int(groups[2]) if len(groups) > 2 else 0
            elif form == "dmy":
                day, month, year = int(groups[0]), _MONTHS[groups[1].lower()], int(groups[2]) if len(groups) > 2 else 0
            else:
                month, day, year = _MONTHS[groups[0].lower()], 0, int(groups[1])
            found.append(_date_claim(match, year, month, day))
    return found


def _date_claim(match: re.Match, year: int, month: int, day: int) -> Claim:
    written, start, end = match.group(), match.start(), match.end()
    try:
        if not year:  # "Aug 24": the same day of any year
            date(2000, month, day)  # 2000 is a leap year, so Feb 29 is allowed
            return Claim(written, Kind.DATE, month * 100 + day, "month-day", month * 100 + day, month * 100 + day,
                         start, end)
        first = date(year, month, day or 1).toordinal()
        last = date(year, month, day or calendar.monthrange(year, month)[1]).toordinal()
    except ValueError:  # "2026-13-45" is a date no tool produced
        return Claim(written, Kind.DATE, -1, None, -1, -1, start, end)
    return Claim(written, Kind.DATE, first, None, first, last, start, end)


def _share_units(text: str, claims: list[Claim]) -> list[Claim]:
    """Ranges share their unit: "10-15%" is two percentages, "$10-15" two amounts, "4 to 6 weeks" two durations."""
    shared = list(claims)
    for i in range(len(shared) - 1):
        first, second = shared[i], shared[i + 1]
        if not re.fullmatch(r"[ \u00a0]*(?:-|–|—|to)[ \u00a0]*", text[first.end:second.start]):
            continue
        if first.bare and first.kind == Kind.COUNT and second.kind != Kind.DATE:
            number, place = read_digits(first.written) if _NUMERAL.fullmatch(first.written) else (first.value, 1.0)
            low, high = _tolerance(number, place, second.scale)
            shared[i] = replace(first, kind=second.kind, unit=second.unit, value=number * second.scale, low=low,
                                high=high, scale=second.scale, bare=False, alternative=None)
        elif second.kind == Kind.COUNT and second.unit is None and first.kind == Kind.MONEY:
            shared[i + 1] = replace(second, kind=Kind.MONEY, unit=first.unit, bare=False, alternative=None)
    return shared
