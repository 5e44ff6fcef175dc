"""The claim extractor, on generated sentences: every figure, in any written form, comes out with its kind and value."""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from spendpilot.agents.grounding import Kind, claims_in


@dataclass(frozen=True)
class Figure:
    written: str
    kind: Kind
    value: float
    unit: str | None = None


UNITS = ["", " twenty", " thirty", " forty", " fifty", " sixty", " seventy", " eighty", " ninety"]
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
       "seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def in_words(n: int) -> str:
    """English words for 1 <= n < 1000: "forty-eight", "three hundred and five" (a test-side reading)."""
    hundreds, rest = divmod(n, 100)
    parts = [f"{ONES[hundreds]} hundred"] if hundreds else []
    if rest:
        tens, ones = divmod(rest, 10)
        said = ONES[rest] if rest < 20 else TENS[tens] + (f"-{ONES[ones]}" if ones else "")
        parts.append(said)
    return " and ".join(parts)


def digits(value: float, decimals: int, commas: bool) -> str:
    return f"{value:,.{decimals}f}" if commas else f"{value:.{decimals}f}"


amounts = st.builds(lambda whole, cents: whole + cents / 100, st.integers(0, 2_000_000_000), st.integers(0, 99))
mantissas = st.builds(lambda whole, tenths: whole + tenths / 10, st.integers(1, 999), st.integers(0, 9))
places = st.integers(0, 2)
MAGNITUDES = [("k", 1e3), ("K", 1e3), ("M", 1e6), ("m", 1e6), ("bn", 1e9), (" thousand", 1e3),
              (" million", 1e6), (" billion", 1e9), (" Million", 1e6), ("MM", 1e6)]
CURRENCIES = [("$", "USD"), ("US$", "USD"), ("€", "EUR"), ("£", "GBP"), ("USD ", "USD"), ("EUR ", "EUR"),
              ("USD", "USD"), ("$ ", "USD")]
CURRENCY_AFTER = [(" dollars", "USD"), (" USD", "USD"), (" US dollars", "USD"), ("$", "USD"), (" euros", "EUR"),
                  (" EUR", "EUR"), (" GBP", "GBP"), ("€", "EUR"), (" bucks", "USD")]


@st.composite
def money(draw) -> Figure:
    form = draw(st.sampled_from(["symbol", "scaled", "after", "scaled-after", "words"]))
    if form == "symbol":
        value, decimals = draw(amounts), draw(places)
        sign, code = draw(st.sampled_from(CURRENCIES))
        written = digits(value, decimals, draw(st.booleans()))
        return Figure(sign + written, Kind.MONEY, float(written.replace(",", "")), code)
    if form in ("scaled", "scaled-after"):
        mantissa, (suffix, size) = draw(mantissas), draw(st.sampled_from(MAGNITUDES))
        shown = f"{mantissa:g}"
        if form == "scaled":
            sign, code = draw(st.sampled_from(CURRENCIES))
            return Figure(f"{sign}{shown}{suffix}", Kind.MONEY, float(shown) * size, code)
        word, code = draw(st.sampled_from(CURRENCY_AFTER[:7]))
        return Figure(f"{shown}{suffix}{word}", Kind.MONEY, float(shown) * size, code)
    if form == "after":
        value, decimals = draw(amounts), draw(places)
        word, code = draw(st.sampled_from(CURRENCY_AFTER))
        written = digits(value, decimals, True)
        return Figure(written + word, Kind.MONEY, float(written.replace(",", "")), code)
    n, (scale, size) = draw(st.integers(2, 999)), draw(st.sampled_from([("", 1), (" thousand", 1e3),
                                                                        (" million", 1e6)]))
    return Figure(f"{in_words(n)}{scale} dollars", Kind.MONEY, n * size, "USD")


@st.composite
def percent(draw) -> Figure:
    value, decimals = draw(st.floats(0, 999, allow_nan=False).map(lambda v: round(v, 2))), draw(places)
    written = digits(value, decimals, False)
    suffix = draw(st.sampled_from(["%", " %", " percent", " per cent", "-percent"]))
    # In words from two up, as the durations: "one" is read as a word ("one of the features"), not a figure.
    if draw(st.booleans()) and decimals == 0 and 1 < int(written) < 100:
        return Figure(f"{in_words(int(written))} percent", Kind.PERCENT, int(written))
    return Figure(written + suffix, Kind.PERCENT, float(written))


COUNT_NOUNS = [(" requests", "requests"), (" API calls", "requests"), (" failed requests", "requests"),
               (" tokens", "tokens"), (" input tokens", "tokens"), ("-token", "tokens"), (" rows", "rows"),
               (" models", None), (" recommendations", None)]


@st.composite
def count(draw) -> Figure:
    noun, unit = draw(st.sampled_from(COUNT_NOUNS))
    if draw(st.booleans()):
        mantissa, (suffix, size) = draw(mantissas), draw(st.sampled_from(MAGNITUDES))
        shown = f"{mantissa:g}"
        return Figure(f"{shown}{suffix}{noun}", Kind.COUNT, float(shown) * size, unit)
    n = draw(st.integers(0, 10**9))
    if draw(st.booleans()) and 1 < n < 1000 and noun != "-token":
        return Figure(f"{in_words(n)}{noun}", Kind.COUNT, n, unit)
    return Figure(f"{n:,}{noun}", Kind.COUNT, n, unit)


@st.composite
def multiplier(draw) -> Figure:
    value = draw(st.integers(1, 999)) / 10
    return Figure(f"{value:g}" + draw(st.sampled_from(["x", "×", " times"])), Kind.MULTIPLIER, value)


DURATIONS = [(" days", 86400), ("-day", 86400), (" weeks", 604800), (" months", 2592000), (" ms", 0.001),
             (" hours", 3600), (" seconds", 1), (" years", 31536000), ("d", 86400)]


@st.composite
def duration(draw) -> Figure:
    n, (noun, seconds) = draw(st.integers(2, 999)), draw(st.sampled_from(DURATIONS))
    if draw(st.booleans()) and noun.startswith(" "):
        return Figure(f"{in_words(n)}{noun}", Kind.DURATION, n * seconds)
    return Figure(f"{n:,}{noun}", Kind.DURATION, n * seconds)


@st.composite
def a_date(draw) -> Figure:
    day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
    month, short = calendar.month_name[day.month], calendar.month_abbr[day.month]
    form = draw(st.sampled_from(["iso", "mdy", "abbr", "dmy", "month"]))
    if form == "month":
        return Figure(f"{month} {day.year}", Kind.DATE, date(day.year, day.month, 1).toordinal())
    written = {"iso": day.isoformat(), "mdy": f"{month} {day.day}, {day.year}",
               "abbr": f"{short} {day.day}, {day.year}", "dmy": f"{day.day} {month} {day.year}"}[form]
    return Figure(written, Kind.DATE, day.toordinal())


figures = st.one_of(money(), percent(), count(), multiplier(), duration(), a_date())
# Words around the figures, some full of digits that only name things: none of them is a claim.
FILLERS = ["Over the period you spent", "which is", "on gpt-4o-mini", "for claude-sonnet-4-5 traffic,",
           "and", "— see step 2 —", "while p95 latency rose;", "with HTTP 429 errors", "on llama3.1:8b",
           "on Gemini 2.5 Flash,", "(top 3 features)", "behind a quality check;", "at 14:00 UTC,",
           "per 1M tokens;", "on 5xx responses", "in total.", "for the 3rd time", "as version 2 shows,"]
fillers = st.sampled_from(FILLERS)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(fillers, figures), min_size=1, max_size=4), fillers)
def test_every_figure_in_a_generated_sentence_is_extracted_with_its_kind_and_value(parts, closing):
    sentence = " ".join(f"{filler} {figure.written}" for filler, figure in parts) + f" {closing}"

    found = claims_in(sentence)

    expected = [figure for _, figure in parts]
    assert [c.kind for c in found] == [f.kind for f in expected], (sentence, found)
    for claim, figure in zip(found, expected, strict=True):
        # A count's noun may stand a few words on ("1.2 million wasted requests"): the claim is the number.
        assert claim.written == figure.written or (claim.kind == Kind.COUNT and figure.written.startswith(
            claim.written)), (sentence, claim)
        assert close(claim.value, figure.value), (sentence, claim, figure)
        assert claim.unit == figure.unit, (sentence, claim, figure)
        assert claim.low <= claim.value <= claim.high


@settings(max_examples=200, deadline=None)
@given(st.lists(fillers, min_size=1, max_size=8))
def test_numbers_that_only_name_things_are_not_claims(words):
    assert claims_in(" ".join(words)) == []


@given(mantissas, st.sampled_from(MAGNITUDES))
def test_a_claim_stands_for_what_rounds_to_it(mantissa, magnitude):
    suffix, size = magnitude
    [claim] = claims_in(f"${mantissa:.1f}{suffix}")
    assert close(claim.high - claim.low, 0.1 * size * (1 + 2e-9 * max(1, mantissa * size) / (0.1 * size)))
    assert claim.low < mantissa * size < claim.high


def test_list_markers_and_headings_are_not_claims():
    text = "## 1. Summary\n\n1. **Move support-bot**: done.\n2) Cache the prefix.\n### 3. Next"
    assert claims_in(text) == []


def test_a_bare_year_is_a_date_or_a_count():
    [claim] = claims_in("Spend grew all through 2026.")
    assert claim.kind == Kind.DATE and claim.alternative is not None and claim.alternative.kind == Kind.COUNT


def test_ranges_share_their_unit():
    found = claims_in("Savings of 10-15% over 4 to 6 weeks, or $10-15 a day.")
    assert [(c.written, c.kind) for c in found] == [
        ("10", Kind.PERCENT), ("15%", Kind.PERCENT), ("4", Kind.DURATION), ("6 weeks", Kind.DURATION),
        ("$10", Kind.MONEY), ("15", Kind.MONEY)]
    assert found[2].value == 4 * 604800
