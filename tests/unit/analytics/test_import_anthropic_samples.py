"""Anthropic usage as users have it: Console CSV exports (both layouts), the Admin API usage report
(grouped, ungrouped, by tier) and cost report, imported and priced as billed.

Every sample's source is in tests/samples/README.md; each test names its own.
"""

from __future__ import annotations

import pytest

from spendpilot.analytics.queries import usage_summary
from tests.unit.analytics.samples import import_sample, stored


async def test_console_usage_export_hourly_14_columns(store, org_id):
    """Defect 1: the Console's current 14-column usage export (with context_window, inference_geo,
    speed) was "unrecognised". Sample: header and rows quoted from a user's
    claude_api_tokens_2026_03_31.csv (public transcript; tests/samples/README.md)."""
    report = await import_sample(store, org_id, "anthropic/console_usage_hourly_14col.csv")
    assert report["format"] == "anthropic-console"
    assert (report["imported"], report["duplicates"], report["rejected"], report["unknown_columns"]) == (2, 0, [], [])
    first, second = await stored(store, org_id)
    assert (first["ts"], first["model"], first["provider"]) == ("2026-03-31 02:00:00.000", "claude-haiku-4-5-20251001",
                                                                "anthropic")
    assert (first["user"], first["feature"], first["api_key_id"]) == ("example-key", "Default", "example-key")
    assert (first["input_tokens"], first["output_tokens"], first["cached_input_tokens"]) == (1_124_832, 254_558, 0)
    assert first["cost_usd"] == pytest.approx(2.397622, abs=1e-9)
    assert (second["input_tokens"], second["output_tokens"]) == (506_280, 117_816)
    assert second["cost_usd"] == pytest.approx(1.095360, abs=1e-9)
    again = await import_sample(store, org_id, "anthropic/console_usage_hourly_14col.csv")
    assert (again["imported"], again["duplicates"]) == (0, 2)


async def test_console_usage_export_prices_5m_and_1h_cache_writes_apart(store, org_id):
    """Defect 9: cache writes billed at their own rates, 1-hour writes at the 1-hour rate. Sample: two
    real model-days quoted in a public verify-spend.mts (tests/samples/README.md), whose Console cost
    export states $0.99 and $1.03: priced with one write rate they would be $0.9479 and $0.9999."""
    report = await import_sample(store, org_id, "anthropic/console_usage_daily_cache_writes.csv")
    assert (report["imported"], report["rejected"]) == (2, [])
    haiku, sonnet = await stored(store, org_id)
    assert haiku["model"] == "claude-haiku-4-5-20251001"
    assert (haiku["input_tokens"], haiku["cached_input_tokens"], haiku["cache_write_tokens"]) == (
        4_323_953, 4_117_729, 18_134)
    assert haiku["output_tokens"] == 69_753
    assert haiku["cost_usd"] == pytest.approx(0.98489590, abs=1e-9)
    assert (sonnet["model"], sonnet["input_tokens"], sonnet["cached_input_tokens"]) == (
        "claude-sonnet-4-6", 1_243_326, 1_145_475)
    assert sonnet["cache_write_tokens"] == 6_933 + 39_515
    assert sonnet["cost_usd"] == pytest.approx(1.03095525, abs=1e-9)


async def test_console_usage_export_legacy_11_columns(store, org_id):
    """Defect 1, older layout: the 11-column export without context_window. Sample: header and row
    quoted in a public README (tests/samples/README.md)."""
    report = await import_sample(store, org_id, "anthropic/console_usage_legacy_11col.csv")
    assert (report["format"], report["imported"], report["rejected"]) == ("anthropic-console", 1, [])
    (row,) = await stored(store, org_id)
    assert (row["ts"], row["model"], row["user"], row["feature"]) == (
        "2025-06-12 00:00:00.000", "claude-3-5-haiku-20241022", "claude_code_key_example_abcd", "Claude Code")
    assert (row["input_tokens"], row["output_tokens"]) == (8, 1)
    assert row["cost_usd"] == pytest.approx(0.0000104, abs=1e-12)


async def test_console_cost_export_is_billed_cost_lines(store, org_id):
    """The Console's cost export is dollars, not tokens: cost lines whose amounts are the spend, with
    display names mapped to API ids. Sample: a trimmed copy of a real export in a public test
    (tests/samples/README.md); 7 lines, $2.95, one of them a real $0.00 line."""
    report = await import_sample(store, org_id, "anthropic/console_cost_14col.csv")
    assert report["format"] == "anthropic-console-cost"
    assert (report["imported"], report["cost_lines"], report["rejected"]) == (7, 7, [])
    rows = await stored(store, org_id)
    assert all(r["input_tokens"] == r["output_tokens"] == r["requests"] == 0 for r in rows)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(2.95, abs=1e-9)
    assert all(r["stated_cost_usd"] == r["cost_usd"] and r["tags"]["kind"] == "cost" for r in rows)
    assert rows[0]["model"] == "claude-haiku-4-5"  # "Claude Haiku 4.5" as the console shows it
    assert rows[0]["tags"]["line"] == "token / input_no_cache"
    summary = await usage_summary(store, org_id)
    assert summary["total_usd"] == pytest.approx(2.95, abs=1e-9)


async def test_console_cost_export_legacy_7_columns(store, org_id):
    """The 2024 cost layout. Sample: a row quoted in a public README (tests/samples/README.md)."""
    report = await import_sample(store, org_id, "anthropic/console_cost_legacy_7col.csv")
    assert (report["format"], report["imported"], report["cost_lines"]) == ("anthropic-console-cost", 1, 1)
    (row,) = await stored(store, org_id)
    assert (row["ts"], row["cost_usd"], row["user"]) == ("2024-12-07 00:00:00.000", 0.0, "example-user")


async def test_admin_usage_report_prices_web_search_and_both_cache_writes(store, org_id):
    """Defect 9: web search ($10 per 1,000) and 5m/1h cache writes priced. Sample: the response example
    of platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages: $0.019935 of tokens and
    $0.10 for 10 searches."""
    report = await import_sample(store, org_id, "anthropic/admin_usage_report_grouped_docs_example.json")
    assert (report["format"], report["imported"], report["rejected"]) == ("anthropic", 1, [])
    (row,) = await stored(store, org_id)
    assert (row["ts"], row["model"]) == ("2025-08-01 00:00:00.000", "claude-sonnet-4-20250514")
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (
        3_200, 200, 1_500, 500)
    assert row["service_tier"] == "standard" and row["requests"] == 0
    assert row["cost_usd"] == pytest.approx(0.119935, abs=1e-9)
    assert row["source_id"].startswith("anthropic-usage:2025-08-01T00:00:00+00:00|claude-sonnet-4-20250514|")


async def test_admin_usage_report_bucket_is_priced_per_call_not_as_one_call(store, org_id):
    """A day's bucket of many calls is priced at base rates, not at the >200k tier a single call of
    2.7M tokens would pay; a null service_tier means "not grouped", not batch. Sample: the captured
    response in the-sid-dani/samba-ai-usage-stats @5ec5a17f (tests/samples/README.md)."""
    await import_sample(store, org_id, "anthropic/admin_usage_report_grouped_capture.json")
    (row,) = await stored(store, org_id)
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (2_730_983, 2_466_105, 19_314)
    assert (row["is_batch"], row["service_tier"]) == (0, "")
    assert row["cost_usd"] == pytest.approx(2.0134995, abs=1e-9)


async def test_admin_usage_report_ungrouped_imports_with_the_model_unknown(store, org_id):
    """Defect 2 (Anthropic side): a report not grouped by model is stored with the model unknown,
    counted, not priced, and the report says what that costs. Sample: built from the documented
    schema with the capture's numbers (tests/samples/README.md)."""
    report = await import_sample(store, org_id, "anthropic/admin_usage_report_ungrouped.json")
    assert (report["imported"], report["rejected"], report["without_model"]) == (1, [], 1)
    assert any("no model" in note and "group_by[]=model" in note for note in report["notes"])
    (row,) = await stored(store, org_id)
    assert (row["model"], row["priced"], row["cost_usd"]) == ("unknown", 0, 0.0)
    assert (row["input_tokens"], row["output_tokens"]) == (2_730_983, 19_314)


async def test_admin_usage_report_service_tiers(store, org_id):
    """Defect 9: service_tier honoured: batch at the batch price ($1.50, half of $3.00), priority at
    standard rates with 3 web searches ($0.2295), a 1-hour cache write ($0.47). Sample: built from the
    documented schema with group_by model and service_tier (tests/samples/README.md)."""
    await import_sample(store, org_id, "anthropic/admin_usage_report_tiers.json")
    rows = {(r["model"], r["service_tier"]): r for r in await stored(store, org_id)}
    batch = rows[("claude-sonnet-4-5-20250929", "batch")]
    assert (batch["is_batch"], batch["cost_usd"]) == (1, pytest.approx(1.50, abs=1e-9))
    assert rows[("claude-sonnet-4-5-20250929", "priority")]["cost_usd"] == pytest.approx(0.2295, abs=1e-9)
    haiku = rows[("claude-haiku-4-5-20251001", "standard")]
    assert (haiku["input_tokens"], haiku["cache_write_tokens"]) == (780_000, 30_000)
    assert haiku["cost_usd"] == pytest.approx(0.47, abs=1e-9)


async def test_admin_cost_report_is_a_cost_report_in_cents(store, org_id):
    """Defect 8: the cost report was mistaken for a usage report and imported $0 rows. Its amounts are
    cents as decimal strings: "946.6" is $9.466. Sample: the captured cost response in
    the-sid-dani/samba-ai-usage-stats @5ec5a17f (tests/samples/README.md)."""
    report = await import_sample(store, org_id, "anthropic/admin_cost_report_grouped_capture.json")
    assert (report["format"], report["imported"], report["cost_lines"], report["rejected"]) == (
        "anthropic-cost", 1, 1, [])
    (row,) = await stored(store, org_id)
    assert (row["model"], row["feature"], row["input_tokens"]) == ("claude-sonnet-4-5-20250929",
                                                                   "wrkspc_01EXAMPLEEXAMPLEEXAMPLE2", 0)
    assert row["cost_usd"] == row["stated_cost_usd"] == pytest.approx(9.466, abs=1e-9)


async def test_usage_and_cost_lines_on_the_same_days_are_called_out(store, org_id):
    """Usage and billed cost lines of one provider on the same days both count as spend: the import
    that adds the second says so, with both totals. Samples: the Console usage and cost exports above."""
    await import_sample(store, org_id, "anthropic/admin_usage_report_grouped_capture.json")
    report = await import_sample(store, org_id, "anthropic/admin_cost_report_grouped_capture.json")
    assert any(note.startswith("anthropic: 1 stored rows of token usage (2025-10-15 to 2025-10-15, $2.01)")
               for note in report["notes"])
