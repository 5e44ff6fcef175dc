"""Summary, data profile and overview: totals equal the rows, windows are inclusive UTC days."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta

import pytest

from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.queries import data_profile, spend_overview, usage_summary

END = date(2025, 3, 31)
DAYS = 31


@pytest.fixture(scope="module")
async def usage(store):
    org = f"q_{uuid.uuid4().hex[:8]}"
    rows = list(generate_usage(org, 8_000, days=DAYS, seed=3, end=END))
    await store.insert_rows(rows)
    return org, rows


def m6(x: float) -> float:
    return round(x, 6)


async def test_summary_totals_equal_the_sum_of_rows(store, usage):
    org, rows = usage
    s = await usage_summary(store, org)
    assert s["from"] == (END - timedelta(days=DAYS - 1)).isoformat() and s["to"] == END.isoformat()
    assert s["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows), abs=2e-6)
    assert s["total_requests"] == len(rows)
    by_model = defaultdict(lambda: [0.0, 0, 0, 0])
    for r in rows:
        g = by_model[r["model"]]
        g[0] += r["cost_usd"]
        g[1] += 1
        g[2] += r["input_tokens"]
        g[3] += r["output_tokens"]
    assert {g["key"] for g in s["groups"]} == set(by_model)
    for g in s["groups"]:
        cost, n, tin, tout = by_model[g["key"]]
        assert g["cost_usd"] == pytest.approx(cost, abs=2e-6)
        assert (g["requests"], g["input_tokens"], g["output_tokens"]) == (n, tin, tout)
    costs = [g["cost_usd"] for g in s["groups"]]
    assert costs == sorted(costs, reverse=True)


@pytest.mark.parametrize("group_by", ["provider", "feature", "day"])
async def test_every_grouping_adds_up_to_the_total(store, usage, group_by):
    org, rows = usage
    s = await usage_summary(store, org, group_by=group_by)
    assert sum(g["requests"] for g in s["groups"]) == s["total_requests"] == len(rows)
    assert sum(g["cost_usd"] for g in s["groups"]) == pytest.approx(s["total_usd"], abs=1e-4)
    if group_by == "day":
        assert [g["key"] for g in s["groups"]] == sorted(g["key"] for g in s["groups"])
        assert len(s["groups"]) == DAYS


async def test_window_is_inclusive_whole_utc_days(store, usage):
    org, rows = usage
    day = END - timedelta(days=10)
    s = await usage_summary(store, org, start=day, end=day)
    on_day = [r for r in rows if r["ts"].date() == day]
    assert (s["from"], s["to"]) == (day.isoformat(), day.isoformat())
    assert s["total_requests"] == len(on_day) > 0
    assert s["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in on_day), abs=1e-6)
    # An open end means the org's last stored day.
    tail = await usage_summary(store, org, start=day)
    assert tail["to"] == END.isoformat()
    assert tail["total_requests"] == sum(1 for r in rows if r["ts"].date() >= day)


async def test_bad_arguments_raise_value_error(store, usage):
    org, _ = usage
    with pytest.raises(ValueError, match="group_by"):
        await usage_summary(store, org, group_by="user")
    with pytest.raises(ValueError, match="after"):
        await usage_summary(store, org, start=END, end=END - timedelta(days=1))


async def test_overview_agrees_with_summary(store, usage):
    org, rows = usage
    start, end = END - timedelta(days=13), END
    ov = await spend_overview(store, org, start, end)
    s = await usage_summary(store, org, start, end)
    assert ov["total_usd"] == s["total_usd"]
    assert ov["period"] == {"from": start.isoformat(), "to": end.isoformat(), "days": 14}
    assert ov["monthly_usd"] == pytest.approx(s["total_usd"] / 14 * 30, abs=1e-5)
    window = [r for r in rows if start <= r["ts"].date() <= end]
    assert ov["requests"] == len(window)
    assert ov["input_tokens"] == sum(r["input_tokens"] for r in window)
    failed = sum(1 for r in window if r["status"] in ("error", "timeout", "rate_limited"))
    assert ov["error_rate"] == pytest.approx(failed / len(window), abs=1e-6)
    latencies = sorted(r["latency_ms"] for r in window)
    # The rollup keeps latency to 3 significant digits.
    assert ov["latency_p50_ms"] == pytest.approx(latencies[int(0.5 * len(latencies))], rel=0.005)
    assert ov["latency_p95_ms"] == pytest.approx(latencies[int(0.95 * len(latencies))], rel=0.005)
    assert sum(m["share"] for m in ov["by_model"]) == pytest.approx(1.0, abs=1e-3)
    assert {p["provider"] for p in ov["by_provider"]} == {"openai", "anthropic", "google"}
    assert sum(p["cost_usd"] for p in ov["by_provider"]) == pytest.approx(ov["total_usd"], abs=1e-4)
    daily = defaultdict(float)
    for r in window:
        daily[r["ts"].date()] += r["cost_usd"]
    first = [daily[start + timedelta(days=i)] for i in range(7)]
    second = [daily[start + timedelta(days=i)] for i in range(7, 14)]
    assert ov["trend"]["first_half_daily_usd"] == pytest.approx(sum(first) / 7, abs=1e-5)
    assert ov["trend"]["second_half_daily_usd"] == pytest.approx(sum(second) / 7, abs=1e-5)


async def test_profile_describes_the_data(store, usage):
    org, rows = usage
    p = await data_profile(store, org)
    assert p["rows"] == len(rows)
    assert (p["first_day"], p["last_day"]) == ((END - timedelta(days=DAYS - 1)).isoformat(), END.isoformat())
    assert p["days_covered"] == p["span_days"] == DAYS
    assert p["providers"] == ["anthropic", "google", "openai"]
    assert set(p["features"]) == {r["feature"] for r in rows}
    assert p["models"] == sorted({r["model"] for r in rows})
    assert all(p["fields_present"].values())
    assert (p["unpriced_rows"], p["unpriced_models"], p["aggregated_rows"]) == (0, [], 0)


async def test_an_org_without_usage(store, org_id):
    s = await usage_summary(store, org_id)
    assert s == {"from": None, "to": None, "scope": {}, "total_usd": 0.0, "total_requests": 0, "groups": []}
    p = await data_profile(store, org_id)
    assert p["rows"] == 0 and p["first_day"] is None and p["days_covered"] == 0 and p["models"] == []
    ov = await spend_overview(store, org_id)
    assert ov["period"] == {"from": None, "to": None, "days": 0}
    assert (ov["total_usd"], ov["monthly_usd"], ov["latency_p50_ms"], ov["error_rate"]) == (0.0, 0.0, None, None)


async def test_profile_flags_missing_fields_and_unpriced_models(store, org_id):
    import io

    from spendpilot.analytics.importers import import_usage

    text = (
        "ts,model,input_tokens,output_tokens\n"
        "2025-01-01T00:00:00Z,mystery-model,5,5\n"
        "2025-01-03T00:00:00Z,gpt-4o,5,5\n"
    )
    await import_usage(store, org_id, io.BytesIO(text.encode()))
    p = await data_profile(store, org_id)
    assert p["fields_present"] == {k: False for k in p["fields_present"]}
    assert (p["unpriced_rows"], p["unpriced_models"]) == (1, ["mystery-model"])
    assert (p["days_covered"], p["span_days"]) == (2, 3)
