"""OpenAI usage as users have it: Usage API pages (grouped or not), the cookbook's saved buckets, the
dashboard's usage and cost exports and the Costs API, imported and priced as billed.

Every sample's source is in tests/samples/README.md; each test names its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spendpilot.analytics.importers import import_usage
from spendpilot.analytics.pricing import price_usage
from spendpilot.analytics.queries import usage_summary
from tests.unit.analytics.samples import SAMPLES, import_sample, stored


async def test_usage_page_grouped_by_model(store, org_id):
    """A real Usage API page grouped by model (a public note quoting a curl result; README): four rows
    priced to the micro-dollar, requests and identity per bucket and group."""
    report = await import_sample(store, org_id, "openai/usage_completions_grouped_by_model_page.json")
    assert (report["format"], report["imported"], report["rejected"]) == ("openai", 4, [])
    rows = await stored(store, org_id)
    assert [(r["model"], r["input_tokens"], r["cached_input_tokens"], r["output_tokens"], r["requests"])
            for r in rows] == [
        ("gpt-5-2025-08-07", 14_350_791, 12_464_896, 96_969, 270),
        ("gpt-5-2025-08-07", 18_449_801, 17_526_528, 138_957, 364),
        ("gpt-5-mini-2025-08-07", 1_233_391, 1_091_584, 7_754, 29),
        ("gpt-5-2025-08-07", 13_718_197, 12_887_680, 121_397, 321),
    ]
    assert [r["cost_usd"] for r in rows] == pytest.approx([4.88517075, 4.73447725, 0.07824935, 3.86307625], abs=1e-9)
    assert rows[0]["source_id"].startswith("openai-usage:")
    again = await import_sample(store, org_id, "openai/usage_completions_grouped_by_model_page.json")
    assert (again["imported"], again["duplicates"]) == (0, 4)


async def test_cookbook_buckets_without_model_import_with_the_model_unknown(store, org_id):
    """Defect 2: ungrouped usage (model null, the API's default) and the cookbook's list-of-buckets shape
    were rejected wholesale. Now 9 results import with the model unknown, tokens and requests kept,
    not priced, and the report says what that costs the analysis. Sample: openai/openai-cookbook
    examples/completions_usage_api.ipynb @79d9d4d9, the first 10 buckets (README)."""
    report = await import_sample(store, org_id, "openai/usage_completions_cookbook_buckets.json")
    assert (report["format"], report["imported"], report["rejected"], report["without_model"]) == (
        "openai", 9, [], 9)
    assert report["unpriced_models"] == []
    assert any("9 usage rows have no model" in n and "group_by=model" in n for n in report["notes"])
    rows = await stored(store, org_id)
    assert {r["model"] for r in rows} == {"unknown"} and {r["priced"] for r in rows} == {0}
    # The sums of the sample's own results (the README's totals, 15,520,737 and 295,435, are a little off).
    assert sum(r["input_tokens"] for r in rows) == 15_521_337
    assert sum(r["output_tokens"] for r in rows) == 294_851
    assert sum(r["cached_input_tokens"] for r in rows) == 153_984
    assert sum(r["requests"] for r in rows) == 12_961
    summary = await usage_summary(store, org_id)
    assert (summary["total_requests"], summary["total_usd"]) == (12_961, 0)


async def test_service_tiers_and_batch_are_priced_apart(store, org_id):
    """Defect 9: service_tier honoured. genai-prices dates its flex/priority/batch prices from
    2026-10-12/14 (when they entered the tables); a row dated before states its tier and gets that
    tier's prices: default $0.3409, flex $0.17045, priority $0.61362, batch $0.17045. Sample: built from
    the documented schema, group_by=model,batch,service_tier (README)."""
    await import_sample(store, org_id, "openai/usage_completions_tiers_batch_page.json")
    rows = {r["service_tier"]: r for r in await stored(store, org_id)}
    assert set(rows) == {"default", "flex", "priority", "batch"}
    assert rows["batch"]["is_batch"] == 1
    assert {tier: r["cost_usd"] for tier, r in rows.items()} == {
        "default": pytest.approx(0.3409, abs=1e-9), "flex": pytest.approx(0.17045, abs=1e-9),
        "priority": pytest.approx(0.61362, abs=1e-9), "batch": pytest.approx(0.17045, abs=1e-9)}


async def test_price_in_force_on_the_rows_date(store, org_id):
    """Defect 10: o3 was $10/$40 per MTok before 2025-06-10 and $2/$8 after; May 2025 usage was stored
    at a fifth of what was billed. Realistic usage: one o3 day before and one after the cut, as a Usage
    API page (the documented shape of the grouped page sample above)."""
    page = (SAMPLES / "openai/usage_completions_grouped_by_model_page.json").read_text()
    import json

    doc = json.loads(page)
    result = doc["data"][0]["results"][0]
    may, june = (int(datetime(2025, 5, d, tzinfo=UTC).timestamp()) for d in (20, 21))
    june = int(datetime(2025, 6, 20, tzinfo=UTC).timestamp())
    doc["data"] = [{"object": "bucket", "start_time": t, "end_time": t + 86400,
                    "results": [{**result, "model": "o3-2025-04-16", "input_cached_tokens": 0}]} for t in (may, june)]
    import io

    await import_usage(store, org_id, io.BytesIO(json.dumps(doc).encode()))
    before, after = await stored(store, org_id)
    inp, out = result["input_tokens"], result["output_tokens"]
    assert before["cost_usd"] == pytest.approx((inp * 10 + out * 40) / 1e6, rel=1e-12)
    assert after["cost_usd"] == pytest.approx((inp * 2 + out * 8) / 1e6, rel=1e-12)


async def test_audio_tokens_are_priced_at_audio_rates():
    """Defect 9: OpenAI audio tokens priced at their own rates (gpt-4o-realtime-preview: $40/$80 per
    MTok of audio against $5/$20 of text), as the Usage API reports them in input_audio_tokens and
    output_audio_tokens (the cookbook sample's fields)."""
    text_only = price_usage("openai", "gpt-4o-realtime-preview", 1000, 100)
    with_audio = price_usage("openai", "gpt-4o-realtime-preview", 1000, 100,
                             extras={"input_audio_tokens": 400, "output_audio_tokens": 50})
    assert text_only == pytest.approx((1000 * 5 + 100 * 20) / 1e6)
    assert with_audio == pytest.approx((600 * 5 + 400 * 40 + 50 * 20 + 50 * 80) / 1e6)


@pytest.mark.parametrize("name", ["openai/dashboard_usage_export.csv", "edge/openai_dashboard_usage.tsv"])
async def test_dashboard_usage_export(store, org_id, name):
    """The usage dashboard's export: counts written as floats, FALSE for batch, blank days skipped, not
    rejected; the same data pasted as TSV imports the same (defect 11). Sample: xavierjflanagan/Guardian
    openai-usage-and-cost-report-2025-10-12.md @69d31e9c (README)."""
    report = await import_sample(store, org_id, name)
    assert (report["format"], report["imported"], report["rejected"], report["skipped"]) == ("openai", 6, [], 1)
    assert report["unknown_columns"] == []
    rows = await stored(store, org_id)
    assert [r["cost_usd"] for r in rows] == pytest.approx(
        [0.24726, 0.648614, 0.16722875, 0.569788, 0.3409, 0.072054], abs=1e-9)
    first = rows[0]
    assert (first["model"], first["input_tokens"], first["cached_input_tokens"], first["requests"]) == (
        "gpt-4o-2024-08-06", 59_200, 5_760, 10)
    assert (first["feature"], first["api_key_id"], first["service_tier"], first["is_batch"]) == (
        "proj_EXAMPLEEXAMPLEEXAMPLE01", "key_EXAMPLEEXAMPLE01", "default", 0)


async def test_dashboard_cost_export_as_cost_lines(store, org_id):
    """Defect 2: the dashboard's cost export imports as cost lines: 6 stated daily costs, 2 blank days
    skipped, $2.98595 in all. Sample: xavierjflanagan/Guardian @69d31e9c (README)."""
    report = await import_sample(store, org_id, "openai/dashboard_cost_export.csv")
    assert (report["format"], report["imported"], report["cost_lines"], report["skipped"]) == (
        "openai-costs", 6, 6, 2)
    assert report["unknown_columns"] == []
    summary = await usage_summary(store, org_id)
    assert summary["total_usd"] == pytest.approx(2.98595375, abs=1e-6)


async def test_costs_api_page_in_dollars(store, org_id):
    """Defect 2: the Costs API imports as a cost line, in dollars (unlike Anthropic's cents). Sample: a
    real capture quoted in a public client (README)."""
    report = await import_sample(store, org_id, "openai/costs_page.json")
    assert (report["format"], report["imported"], report["cost_lines"]) == ("openai-costs", 1, 1)
    (row,) = await stored(store, org_id)
    assert (row["ts"], row["model"], row["cost_usd"]) == ("2025-09-28 00:00:00.000", "unknown", 10.1425634)
    assert row["source_id"] == "openai-costs:1759017600||"
