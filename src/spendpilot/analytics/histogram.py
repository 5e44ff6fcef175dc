"""Quantiles and tails from value -> count histograms, as the rollups store them.

A histogram is turned into sorted (value, count) pairs once (`as_counts`), and every figure of it is read from
those: a histogram of a few thousand values costs more to convert and sort than to read a quantile from.
"""

from __future__ import annotations

Counts = list[tuple[int, int]]


def as_counts(hist: dict | None) -> Counts:
    """(value, count) pairs sorted by value; JSON map keys arrive as strings."""
    return sorted((int(k), int(v)) for k, v in (hist or {}).items() if int(v) > 0)


def quantile(counts: Counts, level: float) -> int | None:
    """The value at position floor(level * n) of the sorted values (ClickHouse quantileExact)."""
    total = sum(c for _, c in counts)
    if not total:
        return None
    position = min(int(level * total), total - 1)
    seen = 0
    for value, count in counts:
        seen += count
        if seen > position:
            return value
    return counts[-1][0]


def excess_over(counts: Counts, cap: int) -> tuple[int, int]:
    """(values above cap, total amount above cap): the tail a cap would cut off."""
    calls = amount = 0
    for value, count in counts:
        if value > cap:
            calls += count
            amount += (value - cap) * count
    return calls, amount
