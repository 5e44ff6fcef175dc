"""Numbers as people write them: digits with separators, magnitude suffixes and words, and their precision.

Every reading returns the value and `place`: the size of one unit in the last place written
("48,200" -> 1, "1.2M" -> 100,000, "forty-eight thousand" -> 1,000). The tolerance rule in
`grounding/__init__.py` is stated in terms of it.
"""

from __future__ import annotations

import re

# Digits with optional thousands separators and decimals: "48,200.00", "1.2", "14200", ".5".
DIGITS = r"(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"

# Magnitudes written right after the digits ("48k", "$1.2M", "24.4bn") or as a word ("1.2 million").
ATTACHED_MAGNITUDES = {"k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "mm": 1e6, "MM": 1e6, "mn": 1e6,
                       "b": 1e9, "B": 1e9, "bn": 1e9, "T": 1e12, "tn": 1e12}
SCALE_WORDS = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "mil": 1e6, "billion": 1e9, "trillion": 1e12}
ATTACHED_MAGNITUDE = re.compile(r"(MM|mm|mn|bn|tn|[kKmMbBT])(?![A-Za-z])")
SPACED_MAGNITUDE = re.compile(r"[ \u00a0]((?i:thousand|million|mil|billion|trillion|mn|bn)|MM|[kKMB])\b")

UNIT_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
TENS_WORDS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)}
_NUMBER_WORD = "|".join(sorted([*UNIT_WORDS, *TENS_WORDS], key=len, reverse=True))
_SCALE_WORD = "hundred|thousand|million|billion|trillion"
# "forty-eight thousand", "one hundred and five", "a million", "twelve": a run of number words.
WORD_NUMBER = re.compile(
    rf"\b(?:(?:{_NUMBER_WORD})|an?(?=[ -](?:{_SCALE_WORD})\b))"
    rf"(?:(?:[ -]|[ ]and[ ])(?:{_NUMBER_WORD}|{_SCALE_WORD}))*\b", re.IGNORECASE)


def read_digits(written: str) -> tuple[float, float]:
    """(value, place) of digits such as "48,200.00" -> (48200.0, 0.01)."""
    plain = written.replace(",", "")
    decimals = len(plain.split(".", 1)[1]) if "." in plain else 0
    return float(plain), 10.0 ** -decimals


def read_words(written: str) -> tuple[float, float] | None:
    """(value, place) of number words: "forty-eight thousand" -> (48000, 1000); None for a lone "one"."""
    words = [w for w in re.split(r"[ -]+", written.lower()) if w != "and"]
    if words in (["one"], ["a"], ["an"]):
        return None
    total, group, place = 0.0, 0.0, 1.0
    for word in words:
        if word in ("a", "an"):
            group = 1.0
        elif word in UNIT_WORDS:
            group += UNIT_WORDS[word]
            place = 1.0
        elif word in TENS_WORDS:
            group += TENS_WORDS[word]
            place = 1.0
        elif word == "hundred":
            group = max(group, 1.0) * 100
            place = 100.0
        else:
            scale = SCALE_WORDS[word]
            total += max(group, 1.0) * scale
            group, place = 0.0, scale
    return total + group, place
