"""SPENDPILOT_LLM is checked when the model is built, at start: a bad value is a clear error, never a failed run."""

from __future__ import annotations

import pytest

from spendpilot.agents.choose import build_model
from spendpilot.agents.model import LLMConfigError
from spendpilot.agents.offline import OfflineModel


@pytest.mark.parametrize("value", [None, "", "offline", "OFFLINE"])
def test_unset_or_offline_is_the_offline_model(make_settings, value):
    model = build_model(make_settings(value))
    assert isinstance(model, OfflineModel)
    assert model.name == "offline"


@pytest.mark.parametrize(("value", "message"), [
    ("llama:7b", "'llama:7b' is not a model Spendpilot can use"),
    ("gpt-4o-mini", "'gpt-4o-mini' is not a model Spendpilot can use"),
    ("openai:", "'openai:' names no model"),
    ("openai-compatible:llama3.1", "'openai-compatible:<model>@<base_url>'"),
    ("openai-compatible:llama3.1@localhost:11434", "'openai-compatible:<model>@<base_url>'"),
    ("openai:gpt 4o", "'gpt 4o' is not a model name"),
])
def test_an_unknown_or_malformed_value_is_a_clear_error(make_settings, value, message):
    with pytest.raises(LLMConfigError) as caught:
        build_model(make_settings(value, openai_api_key="sk-test"))
    assert message in str(caught.value)
    assert "SPENDPILOT_LLM=" in str(caught.value)


@pytest.mark.parametrize(("value", "setting"), [
    ("openai:gpt-4o-mini", "SPENDPILOT_OPENAI_API_KEY"),
    ("anthropic:claude-haiku-4-5", "SPENDPILOT_ANTHROPIC_API_KEY"),
    ("gemini:gemini-2.5-flash", "SPENDPILOT_GEMINI_API_KEY"),
    ("google:gemini-2.5-flash", "SPENDPILOT_GEMINI_API_KEY"),
])
def test_a_provider_without_its_key_names_the_setting(make_settings, value, setting):
    with pytest.raises(LLMConfigError, match=setting):
        build_model(make_settings(value))


def test_a_timeout_that_is_not_positive_is_refused(make_settings):
    with pytest.raises(LLMConfigError, match="SPENDPILOT_LLM_TIMEOUT_S"):
        build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test", llm_timeout_s=0))


async def test_valid_values_build_named_models_whose_waits_fit_the_run_deadline(make_settings):
    cases = {
        "openai:gpt-4o-mini": "openai:gpt-4o-mini",
        "anthropic:claude-haiku-4-5": "anthropic:claude-haiku-4-5",
        "google:gemini-2.5-flash": "gemini:gemini-2.5-flash",
        "openai-compatible:qwen2.5:7b@http://127.0.0.1:11434/v1": "openai-compatible:qwen2.5:7b",
    }
    for value, name in cases.items():
        model = build_model(make_settings(value, openai_api_key="k", anthropic_api_key="k", gemini_api_key="k",
                                          llm_timeout_s=90, run_deadline_s=120))
        assert model.name == name
        # Triage and report together leave most of the deadline for the tools and the offline fallback.
        assert model.step_timeout_s + model.report_timeout_s <= 120 * 2 / 3
        await model.aclose()


async def test_ping_lists_the_models_and_offline_needs_nothing(replay, make_settings):
    replay.expect("openai_models.json")
    model = build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test", llm_base_url=f"{replay.url}/v1"))

    await model.ping()
    await model.ping()  # trusted for a while: no second request

    assert [r.path for r in replay.received] == ["/v1/models"]
    await OfflineModel().ping()
