"""The whole pipeline on real seeded usage (chDB) with an LLM model, its fallbacks, and the offline default."""

from __future__ import annotations

import asyncio
import json

import pytest

from spendpilot.agents.choose import build_model
from spendpilot.agents.context import RunCancelled
from spendpilot.agents.intents import analyses_for
from spendpilot.agents.offline import OfflineModel
from spendpilot.agents.pipeline import run_supervisor


def compatible_model(make_settings, replay, **overrides):
    return build_model(make_settings(f"openai-compatible:llama3.1:8b@{replay.url}/v1", **overrides))


async def test_an_llm_run_classifies_with_the_llm_and_streams_its_prose(replay, make_settings, recorded_run):
    replay.expect("compatible_triage_cost_analysis.json", "compatible_report_no_figures.json")
    # Offline, these words would be "general"; the recorded model calls it a cost analysis.
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay))

    answer = await run_supervisor(run.ctx)

    report = answer["report"]
    assert report["intent"] == "cost_analysis"
    assert report["model"] == "openai-compatible:llama3.1:8b"
    assert not any("language model" in caveat for caveat in report["caveats"])
    deltas = [d["delta"] for d in run.of("partial_result", "report")]
    assert len(deltas) >= 3
    assert "".join(deltas).strip() == answer["final_response"]
    assert answer["final_response"].startswith("## Where your AI spend goes")
    thoughts = json.dumps(run.of("agent_thinking", "triage"))
    assert "Asking about usage in general is a request for a review of what it costs." in thoughts
    # The report prompt carried this org's measured figures.
    assert str(report["spend"]["total_usd"]) in json.dumps(replay.received[1].body["messages"])


async def test_the_llm_intent_decides_which_analyses_run(replay, make_settings, recorded_run):
    replay.expect("compatible_triage_prompted.json", "compatible_report_no_figures.json")
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay))

    answer = await run_supervisor(run.ctx)

    assert answer["report"]["intent"] == "caching_audit"
    ran = [t["tool"] for t in run.of("tool_executing", "optimization")]
    assert ran == analyses_for("caching_audit")
    assert ran != analyses_for("general")  # what the offline reading of these words would run


async def test_a_silent_provider_falls_back_within_the_deadline_and_says_so(replay, make_settings, recorded_run):
    settings = make_settings(None, run_deadline_s=30)
    replay.expect("compatible_triage_cost_analysis.json", "compatible_report_no_figures.json", delay_s=20)
    model = compatible_model(make_settings, replay, llm_timeout_s=0.3, run_deadline_s=settings.run_deadline_s)
    run = recorded_run("Analyze my AI costs", model)

    # The run deadline is enforced as the run executor does; the fallback has to land inside it.
    async with asyncio.timeout(settings.run_deadline_s):
        answer = await run_supervisor(run.ctx)

    report = answer["report"]
    assert report["model"] == "offline"
    assert report["intent"] == "cost_analysis"
    assert ("The language model (openai-compatible:llama3.1:8b) did not answer in time during triage; "
            "the question was classified by the offline model.") in report["caveats"]
    assert ("The language model (openai-compatible:llama3.1:8b) did not answer in time; "
            "this report was written by the offline model.") in report["caveats"]
    assert "did not answer in time; this report was written by the offline model." in answer["final_response"]
    assert "".join(d["delta"] for d in run.of("partial_result", "report")).strip() == answer["final_response"]


async def test_an_invented_figure_is_taken_back_in_the_events(replay, make_settings, recorded_run):
    # The recorded draft's figures and dates belong to another organisation: here they are all invented.
    replay.expect("compatible_triage_cost_analysis.json", "openai_report_invented_figure.json",
                  "compatible_report_no_figures.json")
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay))

    answer = await run_supervisor(run.ctx)

    report = answer["report"]
    # The rewrite stated no figure, so it is kept and the model is credited.
    assert report["model"] == "openai-compatible:llama3.1:8b"
    assert not any("language model" in caveat for caveat in report["caveats"])
    report_events = [(t, d) for t, d in run.events if d.get("agent") == "report"]
    rewrite_at = next(i for i, (t, d) in enumerate(report_events)
                      if t == "agent_thinking" and "no tool produced" in d["thought"])
    assert report_events[rewrite_at][1]["thought"] == (
        "The draft stated a date that no tool produced; asking the model to rewrite it from the tool results.")
    draft = "".join(d["delta"] for t, d in report_events[:rewrite_at] if t == "partial_result")
    rewritten = "".join(d["delta"] for t, d in report_events[rewrite_at:] if t == "partial_result")
    # The draft's heading names another organisation's period: nothing of it went out.
    assert draft == ""
    assert "2026-08-24" not in json.dumps(run.events) and "$12,345.68" not in json.dumps(run.events)
    assert rewritten.strip() == answer["final_response"]
    assert answer["final_response"].startswith("## Where your AI spend goes")
    assert report_events[-1][0] == "agent_completed"


async def test_a_draft_that_lies_twice_is_replaced_by_the_offline_report(replay, make_settings, recorded_run):
    replay.expect("compatible_triage_cost_analysis.json", "openai_report_invented_figure.json",
                  "openai_report_invented_figure.json")
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay))

    answer = await run_supervisor(run.ctx)

    report = answer["report"]
    assert report["model"] == "offline"
    note = next(c for c in report["caveats"] if "no tool produced" in c)
    assert note.startswith("The language model (openai-compatible:llama3.1:8b) stated a date that no tool produced")
    assert note in answer["final_response"]
    assert "2026-08-24" not in json.dumps(run.events) and "$12,345.68" not in json.dumps(run.events)
    assert "".join(d["delta"] for d in run.of("partial_result", "report")).strip() == answer["final_response"]


async def test_the_offline_model_gives_the_same_answer_to_the_same_question(recorded_run):
    first = recorded_run("Analyze my AI costs for the last 30 days", OfflineModel())
    second = recorded_run("Analyze my AI costs for the last 30 days", OfflineModel())

    one, two = await run_supervisor(first.ctx), await run_supervisor(second.ctx)

    assert one["final_response"] == two["final_response"]
    assert one["report"] == two["report"]
    assert one["report"]["period"]["days"] == 30

    def without_timings(events):
        return [(t, {k: v for k, v in d.items() if k != "duration_ms"}) for t, d in events]
    assert without_timings(first.events) == without_timings(second.events)


async def test_cancel_stops_a_run_waiting_on_the_provider(replay, make_settings, recorded_run):
    replay.expect("compatible_triage_cost_analysis.json")
    replay.expect("compatible_report_no_figures.json", delay_s=60)
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay, llm_timeout_s=60))
    task = asyncio.create_task(run_supervisor(run.ctx))
    while len(replay.received) < 2:  # the report request is out and unanswered
        assert not task.done()
        await asyncio.sleep(0.01)

    run.ctx.cancel.set()

    # Far sooner than the provider or its timeout would answer.
    async with asyncio.timeout(10):
        with pytest.raises(RunCancelled):
            await task
    assert not run.of("partial_result")


async def test_the_run_deadline_ends_a_run_waiting_on_the_provider_as_a_timeout(replay, make_settings, recorded_run):
    replay.expect("compatible_triage_cost_analysis.json")
    replay.expect("compatible_report_no_figures.json", delay_s=60)
    run = recorded_run("Tell me about our usage", compatible_model(make_settings, replay, llm_timeout_s=60))
    deadline: list[asyncio.Timeout] = []

    async def under_deadline():
        # As the run executor does; the deadline is moved to now once the provider is being waited on.
        async with asyncio.timeout(None) as timeout:
            deadline.append(timeout)
            return await run_supervisor(run.ctx)

    task = asyncio.create_task(under_deadline())
    while len(replay.received) < 2:
        assert not task.done()
        await asyncio.sleep(0.01)
    deadline[0].reschedule(asyncio.get_running_loop().time())

    async with asyncio.timeout(10):
        with pytest.raises(TimeoutError):
            await task
