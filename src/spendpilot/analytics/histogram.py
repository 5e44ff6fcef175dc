"""Quantiles and tails from value -> count histograms, as the rollups store them."""

from __future__ import annotations


def as_counts(hist: dict | None) -> list[tuple[int, int]]:
    """(value, count) pairs sorted by value; JSON map keys arrive as strings."""
    return sorted((int(k), int(v)) for k, v in (hist or {}).items() if int(v) > 0)


def quantile(hist: dict | None, level: float) -> int | None:
    """The value at position floor(level * n) of the sorted values (ClickHouse quantileExact)."""
    counts = as_counts(hist)
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


def excess_over(hist: dict | None, cap: int) -> tuple[int, int]:
    """(values above cap, total amount above cap): the tail a cap would cut off."""
    calls = amount = 0
    for value, count in as_counts(hist):
        if value > cap:
            calls += count
            amount += (value - cap) * count
    return calls, amount
