"""Two periods side by side: each total is its own summary, movers are the changes by feature, model, provider
and user, biggest |change| first, and a scope compares only its own rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from spendpilot.analytics.periods import change_pct, compare_periods, previous_period
from spendpilot.analytics.pricing import price_usage
from spendpilot.analytics.queries import usage_summary
from spendpilot.analytics.rows import build_row
from spendpilot.analytics.scope import Scope

WEEK = (date(2026, 3, 9), date(2026, 3, 15))
BEFORE = (date(2026, 3, 2), date(2026, 3, 8))


def call(org: str, day: date, feature: str, user: str, model: str, tokens: int, n: int) -> dict:
    return build_row(org, ts=datetime(day.year, day.month, day.day, 12, 0, n, tzinfo=UTC), provider="openai",
                     model=model, feature=feature, user=user, input_tokens=tokens, output_tokens=tokens // 10,
                     source_id=f"{day}-{feature}-{n}")


@pytest.fixture
async def usage(store, org_id):
    rows = []
    for offset in range(7):
        # Before: chat 1 call a day, search 2; this week chat 3 a day (on gpt-4o-mini for one user), search 2.
        for n in range(1):
            rows.append(call(org_id, BEFORE[0] + timedelta(days=offset), "chat", "ann", "gpt-4o", 100_000, n))
        for n in range(3):
            rows.append(call(org_id, WEEK[0] + timedelta(days=offset), "chat", "bob", "gpt-4o-mini", 100_000,
                             10 + n))
        for n in range(2):
            rows.append(call(org_id, BEFORE[0] + timedelta(days=offset), "search", "ann", "gpt-4o", 50_000, 20 + n))
            rows.append(call(org_id, WEEK[0] + timedelta(days=offset), "search", "ann", "gpt-4o", 50_000, 30 + n))
    await store.insert_rows(rows)
    return org_id


def test_the_week_before_is_the_same_number_of_days_just_before():
    assert previous_period(*WEEK) == BEFORE
    assert previous_period(date(2026, 3, 1), date(2026, 3, 30)) == (date(2026, 1, 30), date(2026, 2, 28))
    assert change_pct(110, 100) == 10.0 and change_pct(5, 0) is None


async def test_totals_are_the_summaries_and_movers_explain_the_change(store, usage):
    comparison = await compare_periods(store, usage, WEEK, BEFORE)
    now = await usage_summary(store, usage, *WEEK)
    then = await usage_summary(store, usage, *BEFORE)
    assert comparison["kind"] == "periods"
    assert comparison["current"] == {"from": "2026-03-09", "to": "2026-03-15", "total_usd": now["total_usd"]}
    assert comparison["previous"] == {"from": "2026-03-02", "to": "2026-03-08", "total_usd": then["total_usd"]}
    assert comparison["change_usd"] == pytest.approx(now["total_usd"] - then["total_usd"], abs=1e-6)
    assert comparison["change_pct"] == change_pct(now["total_usd"], then["total_usd"])
    changes = [abs(m["change_usd"]) for m in comparison["movers"]]
    assert changes == sorted(changes, reverse=True)
    by = {(m["dimension"], m["key"]): m for m in comparison["movers"]}
    # Search cost the same both weeks: it did not move. Chat moved from gpt-4o (ann) to gpt-4o-mini (bob).
    assert ("feature", "search") not in by
    chat_before = 7 * price_usage("openai", "gpt-4o", 100_000, 10_000)
    chat_now = 21 * price_usage("openai", "gpt-4o-mini", 100_000, 10_000)
    assert by[("feature", "chat")]["previous_usd"] == pytest.approx(chat_before)
    assert by[("feature", "chat")]["current_usd"] == pytest.approx(chat_now)
    assert by[("model", "gpt-4o")]["change_usd"] == pytest.approx(-chat_before)
    assert by[("model", "gpt-4o-mini")]["change_pct"] is None  # nothing before
    assert by[("user", "bob")]["current_usd"] == pytest.approx(chat_now)
    assert by[("provider", "openai")]["change_usd"] == pytest.approx(comparison["change_usd"])


async def test_a_scope_compares_only_its_rows_and_its_own_key_is_not_a_mover(store, usage):
    comparison = await compare_periods(store, usage, WEEK, BEFORE, Scope(feature="search"))
    assert comparison["scope"] == {"feature": "search"}
    assert comparison["current"]["total_usd"] == (await usage_summary(store, usage, *WEEK,
                                                                      scope=Scope(feature="search")))["total_usd"]
    assert comparison["change_usd"] == 0 and comparison["movers"] == []
    by_user = await compare_periods(store, usage, WEEK, BEFORE, Scope(user="bob"))
    assert {m["dimension"] for m in by_user["movers"]} == {"feature", "model", "provider"}
