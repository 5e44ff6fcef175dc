"""How the offline model reads a question: its intent, the period it names, the scope values it names (only
those the org's usage carries), what it clears, the breakdown it asks for and the finding it means."""

from __future__ import annotations

from datetime import date

import pytest

from spendpilot.agents.dates import period_from, periods_named
from spendpilot.agents.detail import FindingAsked, finding_asked, pick
from spendpilot.agents.intents import classify, follow_up_intent
from spendpilot.agents.scoping import accept_values, dimension_named, keys_cleared, read_scope, values_named
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.window import Period

LAST = date(2026, 11, 27)
PROFILE = {"features": ["chat-assistant", "support-bot", "support-bot-v2", "doc-summarizer"],
           "models": ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"], "providers": ["openai", "anthropic"],
           "users": ["user-004", "scheduler"], "tags": ["team=support", "team=platform", "env=prod"]}


@pytest.mark.parametrize(("question", "intent"), [
    ("Analyze my AI costs", "cost_analysis"),
    ("Where does the money go by team?", "breakdown"),
    ("break down spend per feature", "breakdown"),
    ("who spends the most?", "breakdown"),
    ("Why did spend jump last week?", "period_comparison"),
    ("How does this month compare to last month?", "period_comparison"),
    ("what changed compared to the week before?", "period_comparison"),
    ("Tell me more about the caching recommendation", "finding_detail"),
    ("explain the second recommendation", "finding_detail"),
    ("Would prompt caching lower our bill?", "caching_audit"),
    ("Should we switch from gpt-4o to claude sonnet?", "model_comparison"),
    ("What will we spend next month if traffic triples?", "capacity_planning"),
    ("How do I upload a CSV?", "data_import_help"),
    ("What's the weather in Paris?", "general"),
    ("now only the support-bot feature", "general"),
])
def test_each_intent_is_read_from_the_words_people_use(question, intent):
    assert classify(question) == intent


def test_a_follow_up_that_only_changes_the_slice_asks_the_previous_question_again():
    assert follow_up_intent("general", "breakdown", changed_something=True) == "breakdown"
    assert follow_up_intent("general", None, changed_something=True) == "cost_analysis"
    assert follow_up_intent("general", "general", changed_something=True) == "cost_analysis"
    assert follow_up_intent("general", "breakdown", changed_something=False) == "general"
    assert follow_up_intent("period_comparison", "breakdown", changed_something=True) == "period_comparison"


@pytest.mark.parametrize(("question", "period"), [
    ("and for the last 7 days?", Period(date(2026, 11, 21), LAST)),
    ("last week", Period(date(2026, 11, 21), LAST)),
    ("over the past two weeks", Period(date(2026, 11, 14), LAST)),
    ("last 3 months", Period(date(2026, 8, 30), LAST)),
    ("this month", Period(date(2026, 11, 1), LAST)),
    ("in October", Period(date(2026, 10, 1), date(2026, 10, 31))),
    ("in December", Period(date(2025, 12, 1), date(2025, 12, 31))),
    ("from 2026-11-01 to 2026-11-07", Period(date(2026, 11, 1), date(2026, 11, 7))),
    ("between 2026-11-07 and 2026-11-01", Period(date(2026, 11, 1), date(2026, 11, 7))),
    ("since 2026-11-20", Period(date(2026, 11, 20), LAST)),
    ("for all time", Period()),
])
def test_the_period_a_question_names_ends_on_the_last_day_with_usage(question, period):
    assert period_from(question, LAST) == period


def test_a_question_without_a_period_names_none_and_two_periods_are_read_in_order():
    assert period_from("now only the support-bot feature", LAST) is None
    assert period_from("last week", None) is None
    assert periods_named("2026-11-01..2026-11-07 vs 2026-10-01 to 2026-10-07", LAST) == [
        Period(date(2026, 11, 1), date(2026, 11, 7)), Period(date(2026, 10, 1), date(2026, 10, 7))]


def test_only_values_the_org_carries_are_read_longest_name_first():
    assert values_named("now only the support-bot feature", PROFILE) == {"feature": "support-bot"}
    assert values_named("what about support bot v2?", PROFILE) == {"feature": "support-bot-v2"}
    assert values_named("gpt-4o-mini on openai for user-004", PROFILE) == {
        "model": "gpt-4o-mini", "provider": "openai", "user": "user-004"}
    assert values_named("the support team's spend", PROFILE) == {"tag": "team=support"}
    assert values_named("only env=prod", PROFILE) == {"tag": "env=prod"}
    # Words that are no value of this org's usage.
    assert values_named("only the billing-bot feature on gpt-5", PROFILE) == {}
    assert values_named("switch gpt-4o to claude", PROFILE, keys=("feature",)) == {}


def test_a_follow_up_replaces_only_the_key_it_names_and_clears_what_it_widens():
    basis = Scope(feature="support-bot", model="gpt-4o")
    narrowed = read_scope("only gpt-4o-mini", PROFILE, basis)
    assert narrowed.scope == Scope(feature="support-bot", model="gpt-4o-mini")
    assert narrowed.changed == {"model": "gpt-4o-mini"}
    assert read_scope("and for the last 7 days?", PROFILE, basis).scope == basis
    widened = read_scope("what about all features?", PROFILE, basis)
    assert widened.scope == Scope(model="gpt-4o") and widened.changed == {"feature": None}
    assert read_scope("for everything", PROFILE, basis).scope == Scope()
    assert keys_cleared("across all teams and every model") == {"tag", "model"}


def test_a_models_proposed_scope_is_kept_only_where_the_org_has_it():
    accepted, refused = accept_values({"feature": "support-bot", "model": "gpt-9", "user": None}, PROFILE)
    assert accepted == {"feature": "support-bot"} and refused == ["model gpt-9"]


def test_the_breakdown_asked_for():
    assert dimension_named("where does the money go by team?", PROFILE) == ("tag:team", None)
    assert dimension_named("split by env", PROFILE) == ("tag:env", None)
    assert dimension_named("spend per model", PROFILE) == ("model", None)
    assert dimension_named("which users cost most", PROFILE) == ("user", None)
    assert dimension_named("break it down", PROFILE) == (None, None)
    dimension, note = dimension_named("by project", PROFILE)
    assert dimension == "feature" and "carries no project tag" in note and "env, team" in note


EARLIER = {"recommendations": [
    {"id": "rightsize:a", "kind": "model_rightsizing", "monthly_savings_usd": 30.0},
    {"id": "caching:b", "kind": "prompt_caching", "monthly_savings_usd": 20.0},
    {"id": "caching:c", "kind": "prompt_caching", "monthly_savings_usd": 5.0}]}


def test_the_finding_a_question_means():
    assert finding_asked("tell me more about the caching recommendation", EARLIER) == FindingAsked(
        "prompt_caching", None, "caching:b")
    assert finding_asked("explain the second recommendation", EARLIER).finding_id == "caching:b"
    assert finding_asked("the second caching one, in detail", EARLIER).finding_id == "caching:c"
    assert finding_asked("tell me more about the top recommendation", EARLIER).finding_id == "rightsize:a"
    assert finding_asked("more about batching", None) == FindingAsked("batch_api")
    assert FindingAsked("batch_api").tool() == "find_batch_api" and FindingAsked().tool() is None


def test_the_fresh_finding_that_answers_is_the_same_one_or_the_biggest_of_its_kind():
    fresh = [{"id": "caching:c", "kind": "prompt_caching", "monthly_savings_usd": 6.0},
             {"id": "caching:d", "kind": "prompt_caching", "monthly_savings_usd": 9.0}]
    assert pick(fresh, FindingAsked("prompt_caching", finding_id="caching:c"))["id"] == "caching:c"
    assert pick(fresh, FindingAsked("prompt_caching", finding_id="caching:gone"))["id"] == "caching:d"
    assert pick(fresh, FindingAsked("batch_api")) is None
