"""The facts of a run: tool results filed by field name, and the figures the report builder derives."""

from __future__ import annotations

import pytest

from spendpilot.agents.grounding import Facts, Kind, claims_in, field_kind
from spendpilot.agents.offline import OfflineModel
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.agents.report import build_report, render_markdown


@pytest.mark.parametrize(("field", "parent", "expected"), [
    ("total_usd", "", (Kind.MONEY, "USD", 1.0)),
    ("first_half_daily_usd", "trend", (Kind.MONEY, "USD", 1.0)),
    ("output_rate_per_mtok", "evidence", (Kind.MONEY, "USD", 1.0)),
    ("input", "rates_per_mtok", (Kind.MONEY, "USD", 1.0)),
    ("savings_pct", "", (Kind.PERCENT, None, 1.0)),
    ("share", "by_model", (Kind.PERCENT, None, 100.0)),
    ("error_rate", "", (Kind.PERCENT, None, 100.0)),
    ("batch_discount", "evidence", (Kind.PERCENT, None, 100.0)),
    ("ratio", "", (Kind.MULTIPLIER, None, 1.0)),
    ("days_covered", "", (Kind.DURATION, None, 86400.0)),
    ("latency_p95_ms", "", (Kind.DURATION, None, 0.001)),
    ("retry_window_s", "evidence", (Kind.DURATION, None, 1.0)),
    ("input_tokens", "", (Kind.COUNT, "tokens", 1.0)),
    ("total_requests", "", (Kind.COUNT, "requests", 1.0)),
    ("failed_requests", "", (Kind.COUNT, "requests", 1.0)),
    ("unpriced_rows", "", (Kind.COUNT, "rows", 1.0)),
    ("distinct_prefixes", "", (Kind.COUNT, None, 1.0)),
])
def test_a_field_is_filed_by_its_name(field, parent, expected):
    assert field_kind(field, parent) == expected


def grounded(facts: Facts, text: str) -> bool:
    [claim] = claims_in(text)
    return facts.grounds(claim)


def test_a_figure_is_grounded_only_by_its_own_kind_and_unit():
    facts = Facts()
    facts.add_result({"total_usd": 60781.0, "requests": 4115, "input_tokens": 2_400_000, "savings_pct": 14.1,
                      "share": 0.63})
    assert grounded(facts, "$60,781") and not grounded(facts, "60,781 requests")
    assert grounded(facts, "4,115 calls") and not grounded(facts, "$4,115") and not grounded(facts, "4,115 tokens")
    assert grounded(facts, "2.4M tokens") and not grounded(facts, "2.4M requests") and not grounded(facts, "$2.4M")
    assert grounded(facts, "14.1%") and not grounded(facts, "$14.10") and not grounded(facts, "14 requests")
    assert grounded(facts, "63%") and not grounded(facts, "0.63 requests")
    # A count that does not say what it counts may be any count.
    assert grounded(facts, "| 4,115 |") and grounded(facts, "| 2,400,000 |") and not grounded(facts, "| 60,781 |")


def test_dates_are_grounded_by_the_days_and_periods_of_the_facts():
    facts = Facts()
    facts.add_result({"period": {"from": "2026-08-24", "to": "2026-11-21", "days": 90}, "day": "2025-03-02"})
    for inside in ("2026-08-24", "Nov 21, 2026", "October 2026", "Oct 3", "2 March 2025", "2026"):
        assert grounded(facts, f"On {inside} spend rose"), inside
    for outside in ("2026-11-22", "December 2026", "2024", "Feb 30"):
        assert not grounded(facts, f"On {outside} spend rose"), outside
    assert grounded(facts, "over 90 days") and grounded(facts, "over 3 months") and not grounded(facts, "over 4 months")


def test_the_report_builder_registers_the_figures_it_derives(tool_results):
    facts = Facts()
    build_report(period=tool_results["period"], summary=tool_results["summary"], overview=tool_results["overview"],
                 sufficiency="sufficient", findings=tool_results["findings"], anomalies=[],
                 profile=tool_results["profile"], facts=facts)
    total = sum(f["monthly_savings_usd"] for f in tool_results["findings"])
    # The sum and the share of spend it makes exist in no tool result: the builder computed them.
    assert grounded(facts, f"${total:,.2f}") and grounded(facts, f"{total / 4115.23 * 100:.1f}%")
    assert grounded(facts, "three recommendations") and grounded(facts, "a month of 30 days")
    assert not grounded(facts, "$4,115.23")  # the run-rate is the spend_overview tool's, registered by the tool call


@pytest.mark.parametrize("question", ["Analyze my AI costs", "Analyze my AI costs for the last 30 days",
                                      "Would prompt caching lower our bill?", "What did we spend last week?",
                                      "Which model is cheaper for support?"])
async def test_the_offline_report_of_a_real_run_is_grounded_by_the_run_facts(recorded_run, question):
    run = recorded_run(question, OfflineModel())

    answer = await run_supervisor(run.ctx)

    # Every figure the offline writer renders comes from a tool or from the code that derived it.
    assert run.ctx.facts.ungrounded(answer["final_response"]) == []
    assert run.ctx.facts.ungrounded(render_markdown(answer["report"], answer["report"]["intent"])) == []
    assert claims_in(answer["final_response"])  # it does state figures
