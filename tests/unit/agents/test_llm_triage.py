"""Triage by an LLM through pydantic-ai, against recorded OpenAI, Anthropic, Gemini and Ollama responses."""

from __future__ import annotations

import json
from datetime import date

from spendpilot.agents.choose import build_model
from spendpilot.analytics.window import Period

QUESTION = "Analyze my AI costs for the last 30 days"


async def test_openai_triage_returns_the_recorded_intent_and_period(replay, make_settings, tool_results):
    replay.expect("openai_triage_cost_analysis.json")
    model = build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test", llm_base_url=f"{replay.url}/v1"))

    decided = await model.triage(QUESTION, tool_results["profile"])

    assert decided["intent"] == "cost_analysis"
    assert decided["period"] == Period(date(2026, 10, 23), date(2026, 11, 21))
    assert decided["rationale"] == "The user asks where their AI money went in the last 30 days."
    assert decided["notes"] == []
    sent = replay.received[0]
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body["model"] == "gpt-4o-mini"
    assert [tool["function"]["name"] for tool in sent.body["tools"]] == ["final_result"]
    prompt = json.dumps(sent.body["messages"])
    assert QUESTION in prompt and "2026-11-21" in prompt


async def test_anthropic_triage_returns_the_recorded_intent(replay, make_settings, tool_results):
    replay.expect("anthropic_triage_caching_audit.json")
    model = build_model(make_settings("anthropic:claude-haiku-4-5", anthropic_api_key="sk-ant-test",
                                      llm_base_url=replay.url))

    decided = await model.triage("Would prompt caching lower our bill?", tool_results["profile"])

    assert decided["intent"] == "caching_audit"
    assert decided["period"] == Period()
    assert decided["notes"] == []
    sent = replay.received[0]
    key = sent.headers.get("x-api-key") or sent.headers.get("authorization", "").removeprefix("Bearer ")
    assert key == "sk-ant-test"
    assert sent.body["model"] == "claude-haiku-4-5"
    assert sent.body["tools"][0]["name"] == "final_result"


async def test_gemini_triage_goes_through_the_openai_compatible_endpoint(replay, make_settings, tool_results):
    replay.expect("gemini_triage_model_comparison.json")
    model = build_model(make_settings("gemini:gemini-2.5-flash", gemini_api_key="gm-test",
                                      llm_base_url=f"{replay.url}/v1"))

    decided = await model.triage("Would a cheaper model do for support?", tool_results["profile"])

    assert model.name == "gemini:gemini-2.5-flash"
    assert decided["intent"] == "model_comparison"
    assert replay.received[0].headers["authorization"] == "Bearer gm-test"


async def test_local_server_triage_reads_json_from_the_message_text(replay, make_settings, tool_results):
    replay.expect("compatible_triage_prompted.json")
    model = build_model(make_settings(f"openai-compatible:llama3.1:8b@{replay.url}/v1"))

    decided = await model.triage("Is caching worth it?", tool_results["profile"])

    assert model.name == "openai-compatible:llama3.1:8b"
    assert decided["intent"] == "caching_audit"
    sent = replay.received[0]
    assert sent.body["model"] == "llama3.1:8b"
    assert "tools" not in sent.body
    # Prompted output: the JSON schema travels in the instructions instead of a tool.
    assert "period_from" in json.dumps(sent.body["messages"])


async def test_a_period_outside_the_stored_usage_is_replaced_and_noted(replay, make_settings, tool_results):
    replay.expect("openai_triage_period_outside_data.json")
    model = build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test", llm_base_url=f"{replay.url}/v1"))

    decided = await model.triage("What did we spend in 2024?", tool_results["profile"])

    assert decided["intent"] == "cost_analysis"
    assert decided["period"] == Period()
    assert len(decided["notes"]) == 1
    assert "2024-01-01 to 2024-12-31" in decided["notes"][0]
    assert "outside the stored usage" in decided["notes"][0]


async def test_a_provider_error_falls_back_to_the_offline_triage(replay, make_settings, tool_results):
    replay.expect("openai_error_500.json")
    model = build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test", llm_base_url=f"{replay.url}/v1"))

    decided = await model.triage(QUESTION, tool_results["profile"])

    # What the offline model reads from the words of the question.
    assert decided["intent"] == "cost_analysis"
    assert decided["period"] == Period(date(2026, 10, 23), date(2026, 11, 21))
    assert decided["notes"] == ["The language model (openai:gpt-4o-mini) failed with HTTP 500 during triage; "
                                "the question was classified by the offline model."]
    assert len(replay.received) == 1, "the SDK must not retry: the offline model is the fallback"


async def test_an_anthropic_error_falls_back_to_the_offline_triage(replay, make_settings, tool_results):
    replay.expect("anthropic_error_500.json")
    model = build_model(make_settings("anthropic:claude-haiku-4-5", anthropic_api_key="sk-ant-test",
                                      llm_base_url=replay.url))

    decided = await model.triage("How do I upload a CSV?", tool_results["profile"])

    assert decided["intent"] == "data_import_help"
    assert "failed with HTTP 500" in decided["notes"][0]


async def test_a_provider_that_does_not_answer_in_time_falls_back(replay, make_settings, tool_results):
    replay.expect("openai_triage_cost_analysis.json", delay_s=5)
    model = build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test",
                                      llm_base_url=f"{replay.url}/v1", llm_timeout_s=0.3))

    decided = await model.triage(QUESTION, tool_results["profile"])

    assert decided["intent"] == "cost_analysis"
    assert decided["notes"] == ["The language model (openai:gpt-4o-mini) did not answer in time during triage; "
                                "the question was classified by the offline model."]
    assert "did not answer in time" in decided["rationale"]
