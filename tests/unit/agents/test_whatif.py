"""Reading a what-if question: the scenario, the horizon and the models it names."""

from __future__ import annotations

import pytest

from spendpilot.agents.intents import classify
from spendpilot.agents.whatif import read, tool_args
from spendpilot.analytics.pricing import resolve_model
from spendpilot.analytics.window import Period


@pytest.mark.parametrize("question, multiplier, users, horizon", [
    ("What will we spend next month if traffic triples?", 3.0, 0, 30),
    ("what if traffic doubles next quarter", 2.0, 0, 90),
    ("10x traffic over the next 2 weeks", 10.0, 0, 14),
    ("what if usage grows 50%?", 1.5, 0, 30),
    ("and if it drops by 20%?", 0.8, 0, 30),
    ("What if we add 2,000 users?", 1.0, 2000, 30),
    ("5k new users next year", 1.0, 5000, 365),
    ("three times the load", 3.0, 0, 30),
    ("Analyze my AI costs", 1.0, 0, 30),
])
def test_the_scenario_is_what_the_question_says(question, multiplier, users, horizon):
    what = read(question)
    assert (what.traffic_multiplier, what.added_users, what.horizon_days) == (multiplier, users, horizon)


def test_models_are_read_in_order_and_family_names_resolve_to_the_newest():
    sonnet = resolve_model("claude sonnet")["model"]
    assert sonnet.startswith("claude-sonnet") or "sonnet" in sonnet
    what = read("Should we switch support-bot from gpt-4o to claude sonnet?")
    assert (what.from_model, what.to_model) == ("gpt-4o", sonnet)
    # "instead of" names the current model second.
    swapped = read("use claude sonnet instead of gpt-4o mini")
    assert (swapped.from_model, swapped.to_model) == ("gpt-4o-mini", sonnet)
    assert (read("should we move to o3?").from_model, read("should we move to o3?").to_model) == (None, "o3")
    assert read("what's the weather in Paris?").to_model is None


def test_questions_reach_the_intents_that_run_the_tools():
    assert classify("switch gpt-4o to claude sonnet?") == "model_comparison"
    assert classify("What will we spend next month if traffic triples?") == "capacity_planning"
    assert classify("What if we add 2,000 users?") == "capacity_planning"
    assert classify("Analyze my AI costs") == "cost_analysis"


def test_tool_arguments_follow_the_scenario():
    period = Period()
    tripled = tool_args("plan_capacity", read("if traffic triples next quarter"), period)
    assert tripled.model_dump() == {"horizon_days": 90, "traffic_multiplier": 3.0, "added_users": 0}
    assert tool_args("plan_capacity", read("are we within budget?"), period) is None
    assert tool_args("compare_models", read("which model is cheaper?"), period) is None
    assert tool_args("forecast_spend", read("forecast next week"), period).model_dump() == {"horizon_days": 7}
