"""Report prose by an LLM: streamed in deltas, held to the tools' figures, and replaced when the provider fails."""

from __future__ import annotations

import json

from provider_replay import load

from spendpilot.agents.choose import build_model
from spendpilot.agents.model import Rewrite
from spendpilot.agents.offline import OfflineModel
from spendpilot.agents.report import OVERLAP_CAVEAT


def recorded_prose(name: str) -> str:
    """The text a recorded stream carries, read from its wire format."""
    text = []
    for event in load(name)["response"]["sse"]:
        data = event["data"]
        if isinstance(data, str):
            continue
        if "choices" in data:
            text += [c["delta"].get("content") or "" for c in data["choices"]]
        elif data.get("type") == "content_block_delta":
            text.append(data["delta"]["text"])
    return "".join(text)


def model_caveats(report: dict) -> list[str]:
    """The caveats the model added; the report's own (e.g. overlapping savings) are not its doing."""
    return [c for c in report["caveats"] if c != OVERLAP_CAVEAT]


async def collect(model, report: dict, intent: str = "cost_analysis") -> list:
    report["model"] = model.name  # as the pipeline does before the prose is written
    return [delta async for delta in model.write_report(report, intent)]


async def offline_prose(report: dict, intent: str = "cost_analysis") -> str:
    return "".join([delta async for delta in OfflineModel().write_report(report, intent)])


def openai_model(make_settings, replay, **overrides):
    return build_model(make_settings("openai:gpt-4o-mini", openai_api_key="sk-test",
                                     llm_base_url=f"{replay.url}/v1", **overrides))


async def test_prose_streams_in_several_deltas_and_is_the_recorded_text(replay, make_settings, report):
    replay.expect("openai_report_stream.json")
    model = openai_model(make_settings, replay)

    deltas = await collect(model, report)

    assert all(isinstance(d, str) for d in deltas)
    assert len(deltas) >= 5
    assert "".join(deltas) == recorded_prose("openai_report_stream.json")
    assert report["model"] == "openai:gpt-4o-mini"
    assert model_caveats(report) == []
    sent = replay.received[0].body
    assert sent["stream"] is True
    # The model was handed the report JSON, with the instruction to use only its figures.
    prompt = json.dumps(sent["messages"])
    assert "12345.678901" in prompt and "1830.4" in prompt
    assert "must be a value from the report JSON" in prompt


async def test_anthropic_prose_streams_in_several_deltas(replay, make_settings, report):
    replay.expect("anthropic_report_stream.json")
    model = build_model(make_settings("anthropic:claude-haiku-4-5", anthropic_api_key="sk-ant-test",
                                      llm_base_url=replay.url))

    deltas = await collect(model, report, "caching_audit")

    assert len(deltas) >= 4
    assert "".join(deltas) == recorded_prose("anthropic_report_stream.json")
    assert report["model"] == "anthropic:claude-haiku-4-5"
    assert model_caveats(report) == []


def pieces(deltas: list) -> list[str]:
    """The text streamed between Rewrites: the first draft, the rewrite, the offline prose."""
    parts = [""]
    for delta in deltas:
        if isinstance(delta, Rewrite):
            parts.append("")
        else:
            parts[-1] += delta
    return parts


async def test_an_invented_dollar_figure_is_rewritten_once_then_replaced_by_the_offline_prose(
        replay, make_settings, report):
    replay.expect("openai_report_invented_figure.json", "openai_report_invented_figure.json")
    model = openai_model(make_settings, replay)

    deltas = await collect(model, report)

    rewrites = [d for d in deltas if isinstance(d, Rewrite)]
    assert [r.reason for r in rewrites] == [
        "The draft stated a dollar amount that no tool produced; asking the model to rewrite it from the tool results.",
        "The rewrite still stated a dollar amount that no tool produced; writing the report with the offline model."]
    draft, rewrite, after = pieces(deltas)
    # What reached the user before each rewrite holds only verified figures; the invented one never left.
    assert draft and "$12,345.68" in draft and rewrite == draft
    assert "32,199" not in "".join(pieces(deltas)) + json.dumps(report) + json.dumps([r.reason for r in rewrites])
    # The model was told what to fix, in its own words.
    assert "'$32,199.00' (dollar amount)" in json.dumps(replay.received[1].body["messages"])
    assert report["model"] == "offline"
    assert model_caveats(report) == ["The language model (openai:gpt-4o-mini) stated a dollar amount that no tool "
                                     "produced, also after one rewrite; its prose was dropped and this report was "
                                     "written by the offline model."]
    assert after == await offline_prose(report)
    assert report["caveats"][0] in after


async def test_a_grounded_rewrite_is_kept_and_credited_to_the_model(replay, make_settings, report):
    replay.expect("openai_report_invented_figure.json", "openai_report_stream.json")
    model = openai_model(make_settings, replay)

    deltas = await collect(model, report)

    draft, rewrite = pieces(deltas)
    assert "32,199" not in draft and rewrite == recorded_prose("openai_report_stream.json")
    assert report["model"] == "openai:gpt-4o-mini"
    assert model_caveats(report) == []


async def test_a_provider_error_falls_back_to_the_offline_prose(replay, make_settings, report):
    replay.expect("openai_error_500.json")
    model = openai_model(make_settings, replay)

    deltas = await collect(model, report)

    # Nothing was streamed from the provider, so there is nothing to take back.
    assert not any(isinstance(d, Rewrite) for d in deltas)
    assert report["model"] == "offline"
    assert model_caveats(report) == ["The language model (openai:gpt-4o-mini) failed with HTTP 500; "
                                 "this report was written by the offline model."]
    assert "".join(deltas) == await offline_prose(report)


async def test_an_answer_without_prose_falls_back(replay, make_settings, report):
    replay.expect("openai_report_empty.json")
    model = openai_model(make_settings, replay)

    deltas = await collect(model, report)

    assert report["model"] == "offline"
    assert model_caveats(report) == ["The language model (openai:gpt-4o-mini) gave an answer that could not be used; "
                                 "this report was written by the offline model."]
    assert "".join(deltas) == await offline_prose(report)


async def test_a_provider_that_does_not_answer_in_time_falls_back(replay, make_settings, report):
    replay.expect("openai_report_stream.json", delay_s=5)
    model = openai_model(make_settings, replay, llm_timeout_s=0.3)

    deltas = await collect(model, report)

    assert report["model"] == "offline"
    assert model_caveats(report) == ["The language model (openai:gpt-4o-mini) did not answer in time; "
                                 "this report was written by the offline model."]
    assert "".join(deltas) == await offline_prose(report)


async def test_closing_the_stream_early_stops_the_provider_request(replay, make_settings, report):
    replay.expect("openai_report_stream.json")
    model = openai_model(make_settings, replay)

    stream = model.write_report(report, "cost_analysis")
    first = await anext(stream)
    await stream.aclose()

    assert isinstance(first, str) and first
    assert model_caveats(report) == []
