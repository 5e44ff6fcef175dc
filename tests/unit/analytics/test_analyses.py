"""Each analysis finds the waste planted in a generated data set, priced independently here.

The expected savings are recomputed in Python from the generated rows and genai-prices'
own calc_price (not Spendpilot's pricer), and must match within 1%.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from statistics import median

import pytest
from genai_prices import Usage, calc_price

from spendpilot.analytics.analyses import SAVINGS, run_all_analyses
from spendpilot.analytics.analyses.anomalies import find_anomalies
from spendpilot.analytics.analyses.batching import find_batch_candidates
from spendpilot.analytics.analyses.caching import find_prompt_caching
from spendpilot.analytics.analyses.outputs import find_oversized_outputs
from spendpilot.analytics.analyses.retries import find_retry_waste
from spendpilot.analytics.analyses.rightsizing import find_model_rightsizing
from spendpilot.analytics.demo import generate_usage

ANALYSES = {a.name: (a.run, a.description) for a in SAVINGS}

END = date(2025, 6, 30)
DAYS = 60
ROWS = 30_000
SCALE = 30 / DAYS  # the window is the whole data set: monthly = total / 60 days * 30


def rate(model: str, provider: str, **usage) -> float:
    """USD per million tokens of one usage kind, straight from genai-prices."""
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


def rates(model: str, provider: str) -> dict:
    # Probe with 100k tokens: a million would cross the 200k-token price tier of some models.
    k = 100_000
    return {
        "input": rate(model, provider, input_tokens=k) * 10,
        "output": rate(model, provider, output_tokens=k) * 10,
        "cache_read": rate(model, provider, input_tokens=k, cache_read_tokens=k) * 10,
        "cache_write": rate(model, provider, input_tokens=k, cache_write_tokens=k) * 10,
    }


@pytest.fixture(scope="module")
async def waste(store):
    org = f"waste_{uuid.uuid4().hex[:8]}"
    rows = list(generate_usage(org, ROWS, days=DAYS, seed=11, end=END))
    await store.insert_rows(rows)
    return org, rows


@pytest.fixture(scope="module")
async def clean(store):
    org = f"clean_{uuid.uuid4().hex[:8]}"
    rows = list(generate_usage(org, ROWS, days=DAYS, seed=11, end=END, planted=()))
    await store.insert_rows(rows)
    return org, rows


def feature_rows(rows, feature):
    return [r for r in rows if r["feature"] == feature]


def only(findings, kind):
    assert [f["kind"] for f in findings] == [kind], findings
    f = findings[0]
    assert set(f) == {"id", "title", "kind", "monthly_savings_usd", "evidence", "assumptions", "actions"}
    assert f["monthly_savings_usd"] > 0 and f["assumptions"] and f["actions"]
    return f


async def test_rightsizing_finds_gpt4o_on_short_tickets(store, waste):
    org, rows = waste
    f = only(await find_model_rightsizing(store, org), "model_rightsizing")
    assert f["id"] == "rightsize:openai:gpt-4o:support-bot"
    calls = feature_rows(rows, "support-bot")
    current = sum(r["cost_usd"] for r in calls)
    mini = rates("gpt-4o-mini", "openai")
    tokens_in = sum(r["input_tokens"] - r["cached_input_tokens"] for r in calls)
    cached = sum(r["cached_input_tokens"] for r in calls)
    tokens_out = sum(r["output_tokens"] for r in calls)
    projected = (tokens_in * mini["input"] + cached * mini["cache_read"] + tokens_out * mini["output"]) / 1e6
    assert f["monthly_savings_usd"] == pytest.approx((current - projected) * SCALE, rel=0.01)
    ev = f["evidence"]
    assert ev["suggested_model"] == "gpt-4o-mini" and ev["requests"] == len(calls)
    assert ev["avg_input_tokens"] == pytest.approx(sum(r["input_tokens"] for r in calls) / len(calls), abs=0.05)
    assert ev["current_cost_usd"] == pytest.approx(current, abs=1e-5)


def test_generated_costs_are_genai_prices(waste):
    _, rows = waste
    for r in rows[:: len(rows) // 40]:
        usage = Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                      cache_read_tokens=r["cached_input_tokens"])
        expected = float(calc_price(usage, r["model"], provider_id=r["provider"]).total_price)
        assert r["cost_usd"] == pytest.approx(expected * (0.5 if r["is_batch"] else 1), rel=1e-9)


async def test_prompt_caching_finds_the_uncached_system_prompt(store, waste):
    org, rows = waste
    f = only(await find_prompt_caching(store, org), "prompt_caching")
    assert f["id"] == "caching:anthropic:claude-sonnet-4-5:doc-summarizer"
    calls = [r for r in feature_rows(rows, "doc-summarizer") if not r["is_batch"]]
    prefix = calls[0]["prompt_prefix_tokens"]
    slots = {int(r["ts"].timestamp()) // 300 for r in calls}
    cached = sum(r["cached_input_tokens"] for r in calls)
    r = rates("claude-sonnet-4-5", "anthropic")
    reads = (len(calls) - len(slots)) * prefix - cached
    saving = reads * (r["input"] - r["cache_read"]) / 1e6 - len(slots) * prefix * (r["cache_write"] - r["input"]) / 1e6
    assert f["monthly_savings_usd"] == pytest.approx(saving * SCALE, rel=0.01)
    assert f["evidence"]["cache_slots_5min"] == len(slots) and f["evidence"]["requests"] == len(calls)


async def test_batch_finds_the_nightly_job(store, waste):
    org, rows = waste
    f = only(await find_batch_candidates(store, org), "batch_api")
    assert f["id"] == "batch:openai:gpt-4.1:nightly-report"
    calls = feature_rows(rows, "nightly-report")
    assert all(2 <= r["ts"].hour < 4 and not r["is_batch"] for r in calls)
    assert f["monthly_savings_usd"] == pytest.approx(sum(r["cost_usd"] for r in calls) * 0.5 * SCALE, rel=0.01)
    assert f["evidence"]["off_hours_share"] == 1.0


async def test_batch_saving_follows_a_narrower_window(store, waste):
    org, rows = waste
    start = END - timedelta(days=9)
    f = only(await find_batch_candidates(store, org, start, END), "batch_api")
    calls = [r for r in feature_rows(rows, "nightly-report") if r["ts"].date() >= start]
    assert f["evidence"]["period"] == {"from": start.isoformat(), "to": END.isoformat(), "days": 10}
    assert f["monthly_savings_usd"] == pytest.approx(sum(r["cost_usd"] for r in calls) * 0.5 * 3, rel=0.01)


async def test_retry_waste_finds_failing_code_review(store, waste):
    org, rows = waste
    f = only(await find_retry_waste(store, org), "retry_waste")
    assert f["id"] == "retry:anthropic:claude-opus-4-1:code-review"
    calls = feature_rows(rows, "code-review")
    failed = [r for r in calls if r["status"] in ("error", "timeout", "rate_limited")]
    assert f["monthly_savings_usd"] == pytest.approx(sum(r["cost_usd"] for r in failed) * SCALE, rel=0.01)
    ev = f["evidence"]
    assert ev["failed_requests"] == len(failed)
    assert ev["failure_rate"] == pytest.approx(len(failed) / len(calls), abs=1e-4)
    by_hash = defaultdict(list)
    for r in calls:
        by_hash[r["prompt_hash"]].append(r["ts"])
    retries = {
        (r["prompt_hash"], t)
        for r in failed
        for t in by_hash[r["prompt_hash"]]
        if r["ts"] < t <= r["ts"] + timedelta(seconds=300)
    }
    assert ev["retry_requests"] == len(retries) > 0


async def test_oversized_outputs_claims_only_the_runaway_tail(store, waste):
    org, rows = waste
    f = only(await find_oversized_outputs(store, org), "oversized_outputs")
    assert f["id"] == "outputs:google:gemini-2.5-pro:search-rerank"
    outs = sorted(r["output_tokens"] for r in feature_rows(rows, "search-rerank"))
    p95 = outs[int(0.95 * len(outs))]
    cap = max(256, 2 * p95)
    excess = sum(o - cap for o in outs if o > cap)
    out_rate = rates("gemini-2.5-pro", "google")["output"]
    assert f["evidence"]["p95_output_tokens"] == p95 and f["evidence"]["suggested_max_tokens"] == cap
    assert f["monthly_savings_usd"] == pytest.approx(excess * out_rate / 1e6 * SCALE, rel=0.01)


async def test_anomalies_are_the_planted_spike_days(store, waste):
    org, rows = waste
    daily = defaultdict(float)
    for r in rows:
        daily[r["ts"].date()] += r["cost_usd"]
    first = END - timedelta(days=DAYS - 1)
    planted = [first + timedelta(days=DAYS // 3), first + timedelta(days=2 * DAYS // 3 + 1)]
    found = await find_anomalies(store, org)
    assert [a["day"] for a in found] == [d.isoformat() for d in planted]
    for a, day in zip(found, planted, strict=True):
        around = [daily[day + timedelta(days=k)] for k in range(-7, 8) if k and first <= day + timedelta(days=k) <= END]
        assert a["cost_usd"] == pytest.approx(daily[day], abs=1e-5)
        assert a["baseline_usd"] == pytest.approx(median(around), abs=1e-5)
        assert a["ratio"] >= 2.5


async def test_clean_data_yields_no_findings(store, clean):
    org, _ = clean
    for name, (fn, _) in ANALYSES.items():
        assert await fn(store, org) == [], name
    assert await find_anomalies(store, org) == []


async def test_run_all_ranks_every_planted_finding(store, waste):
    org, _ = waste
    findings = await run_all_analyses(store, org)
    assert sorted(f["kind"] for f in findings) == sorted(ANALYSES)
    savings = [f["monthly_savings_usd"] for f in findings]
    assert savings == sorted(savings, reverse=True)


async def test_analyses_of_an_empty_org_are_empty(store, org_id):
    for fn, description in ANALYSES.values():
        assert description and await fn(store, org_id) == []
    assert await find_anomalies(store, org_id) == []
