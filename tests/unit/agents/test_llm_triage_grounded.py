"""The triage rationale is model text too: held to the profile and the question, rewritten once, then replaced."""

from __future__ import annotations

import json

import pytest

from spendpilot.agents.choose import build_model
from tests.support.fake_providers import FakeProviders
from tests.support.hostile_prose import LYING_RATIONALE, triage_json


@pytest.fixture
def fake():
    with FakeProviders.start() as started:
        yield started


@pytest.fixture
def model(fake, make_settings):
    return build_model(make_settings(fake.llm_setting("llama3.1")))


async def test_a_rationale_that_lies_twice_is_replaced_but_the_intent_stands(fake, model, tool_results):
    fake.queue(triage_json(LYING_RATIONALE, "caching_audit"), triage_json(LYING_RATIONALE, "caching_audit"))

    decided = await model.triage("Analyze my AI costs", tool_results["profile"])

    note = ("The language model (openai-compatible:llama3.1) gave a triage rationale stating 2 dollar amounts and "
            "a percentage that no tool produced, also after one rewrite; the offline model's rationale is shown "
            "instead.")
    assert decided["notes"] == [note]
    assert decided["rationale"] == f"Keywords in the question point to cost analysis. ({note})"
    assert decided["intent"] == "caching_audit"  # the model's choice, not the offline reading of the words
    retry = json.dumps(fake.requests[1].body["messages"])
    assert "'$1.2M' (dollar amount)" in retry and "'87%' (percentage)" in retry
    assert fake.pending == 0 and len(fake.requests_to("/chat/completions")) == 2


async def test_a_rationale_may_restate_the_question_and_the_profile(fake, model, tool_results):
    rationale = "The user asks where the money went in the last 30 days, across 48,210 requests over 90 days."
    fake.queue(triage_json(rationale))

    decided = await model.triage("Analyze my AI costs for the last 30 days", tool_results["profile"])

    assert decided["rationale"] == rationale and decided["notes"] == []
    assert len(fake.requests_to("/chat/completions")) == 1


async def test_a_made_up_period_is_not_repeated_in_the_note(fake, model, tool_results):
    made_up = json.dumps({"intent": "cost_analysis", "rationale": "A review of costs.", "period_from": "1999-01-01",
                          "period_to": "1999-12-31"})
    fake.queue(made_up)

    decided = await model.triage("Analyze my AI costs", tool_results["profile"])

    assert decided["notes"] == ["The language model proposed a period, outside the stored usage (2026-08-24 to "
                                "2026-11-21); the period was read from the question instead."]
    assert "1999" not in json.dumps(decided, default=str)
