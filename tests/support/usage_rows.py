"""Usage files with known costs for budget and alert tests: gpt-4o calls priced at its list price."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from spendpilot.analytics.pricing import price_usage

HEADER = "ts,provider,model,feature,user,input_tokens,output_tokens\n"


def call_tokens(usd: float) -> tuple[int, int]:
    """Input and output tokens of one gpt-4o call costing `usd` (half on input, half on output)."""
    per_dollar_in = round(1_000_000 / 2.5)  # $2.50 per million input tokens
    per_dollar_out = round(1_000_000 / 10)  # $10 per million output tokens
    tokens = round(usd / 2 * per_dollar_in), round(usd / 2 * per_dollar_out)
    assert abs(price_usage("openai", "gpt-4o", *tokens) - usd) < 1e-6, "gpt-4o prices changed"
    return tokens


def start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def usage_csv(calls: list[tuple[datetime, float]], feature: str = "chat", user: str = "ann") -> bytes:
    """One gpt-4o call per (time, cost in USD); give each call its own time, or they are one call."""
    lines = [HEADER]
    for ts, usd in calls:
        tokens_in, tokens_out = call_tokens(usd)
        lines.append(f"{ts.isoformat()},openai,gpt-4o,{feature},{user},{tokens_in},{tokens_out}\n")
    return "".join(lines).encode()


def today_utc() -> date:
    return datetime.now(UTC).date()


def calls_today(*costs: float, offset_s: int = 0) -> list[tuple[datetime, float]]:
    """Calls at the first seconds of today (UTC): always in the past, always in this month."""
    start = start_of(today_utc())
    return [(start + timedelta(seconds=offset_s + i + 1), usd) for i, usd in enumerate(costs)]


def daily_calls(first: date, last: date, usd: float) -> list[tuple[datetime, float]]:
    """One call of `usd` at noon on each day from first to last."""
    days = (last - first).days + 1
    return [(start_of(first + timedelta(days=i)) + timedelta(hours=12), usd) for i in range(days)]
