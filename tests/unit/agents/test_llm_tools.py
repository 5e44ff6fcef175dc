"""With SPENDPILOT_LLM set, the model may call catalogue tools while it writes: within the run's scope, shown as
tool events, and its prose still held to the tools' figures on every turn. Recorded turns (FunctionModel)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from function_llm import Script, prose, recorded_llm, tool_answers, tool_call

from spendpilot.agents.conversation import Basis
from spendpilot.agents.grounding import Facts
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.window import Period

TRIAGE = {"intent": "cost_analysis", "rationale": "The question asks which provider the spend goes to.",
          "period_from": None, "period_to": None}


def by_provider_sentence(returned: list) -> str:
    top = max(returned[-1]["groups"], key=lambda g: g["cost_usd"])
    return (f"## Spend by provider\n\nThe biggest provider in this scope is {top['key']}, at "
            f"${top['cost_usd']:,.2f}.\n\nAct on the first recommendation first.\n")


def report_calls(run) -> list[dict]:
    return [d for d in run.of("tool_executing") if d["agent"] == "report"]


def last_45_days(report: dict) -> dict:
    last = date.fromisoformat(report["period"]["to"])
    return {"from": (last - timedelta(days=44)).isoformat(), "to": last.isoformat()}


async def test_the_model_reads_a_breakdown_it_needs_within_the_runs_scope(make_settings, recorded_run):
    # A figure no other tool produced (45 days by provider); it asks for another feature than the
    # conversation's too, and the scope is not its to widen.
    script = Script(TRIAGE, [tool_call("usage_summary", last_45_days, group_by="provider", feature="code-review"),
                             prose(by_provider_sentence)])
    run = recorded_run("Which provider does the money go to?", recorded_llm(make_settings("openai:x"), script))
    run.ctx.basis = Basis(period=Period(), scope=Scope(feature="support-bot"), intent="cost_analysis",
                          follows="run_earlier")

    answer = await run_supervisor(run.ctx)

    report = answer["report"]
    assert report["scope"] == {"feature": "support-bot"} and report["model"] == "openai:gpt-recorded"
    [call] = report_calls(run)
    assert call["tool"] == "usage_summary"
    assert call["args"] == {"feature": "support-bot", **last_45_days(report), "group_by": "provider"}
    [done] = [d for d in run.of("tool_completed", "report") if d["call_id"] == call["call_id"]]
    assert done["ok"] and done["result"]["scope"] == {"feature": "support-bot"}
    top = max(done["result"]["groups"], key=lambda g: g["cost_usd"])
    # What the model wrote from the tool's figure was kept: the figure is grounded in that tool's result only.
    sentence = f"at ${top['cost_usd']:,.2f}."
    assert sentence in answer["final_response"]
    without = Facts()
    for event in run.of("tool_completed"):
        if event["call_id"] != call["call_id"]:
            without.add_result(event["result"])
    without.add_result(report)
    assert without.ungrounded(sentence), "the figure had to come from the model's own tool call"
    assert answer["final_response"] == "".join(d["delta"] for d in run.of("partial_result", "report")).strip()
    assert not any("language model" in c for c in report["caveats"])
    # The catalogue was offered without profile_usage, and with no scope keys in any tool's arguments.
    assert "usage_summary" in script.offered[0] and "profile_usage" not in script.offered[0]


async def test_a_figure_the_tools_did_not_produce_is_rewritten_on_the_tool_calling_turn(make_settings,
                                                                                       recorded_run):
    def invented(returned: list) -> str:
        return "## Spend by provider\n\nThe biggest provider costs $48,200.00 a month.\n"

    script = Script(TRIAGE, [tool_call("usage_summary", group_by="provider"), prose(invented),
                             tool_call("usage_summary", group_by="provider"), prose(by_provider_sentence)])
    run = recorded_run("Which provider does the money go to?", recorded_llm(make_settings("openai:x"), script))

    answer = await run_supervisor(run.ctx)

    assert "$48,200" not in json.dumps(run.events)
    thoughts = [d["thought"] for d in run.of("agent_thinking", "report")]
    assert ("The draft stated a dollar amount that no tool produced; asking the model to rewrite it from the "
            "tool results.") in thoughts
    # The rewrite (after reading the tool again) is grounded and kept; both calls are in the events.
    assert answer["report"]["model"] == "openai:gpt-recorded"
    assert len(report_calls(run)) == 2
    assert answer["final_response"].startswith("## Spend by provider\n\nThe biggest provider in this scope is")


async def test_a_call_the_catalogue_refuses_goes_back_to_the_model_to_fix(make_settings, recorded_run):
    def plain(returned: list) -> str:
        return "## Your AI spend\n\nThe recommendations below are ranked by what they save.\n"

    script = Script(TRIAGE, [tool_call("delete_usage"), tool_call("usage_summary", group_by="weekday"),
                             prose(plain)])
    run = recorded_run("Which provider does the money go to?", recorded_llm(make_settings("openai:x"), script))

    answer = await run_supervisor(run.ctx)

    # Neither call ran: nothing was shown as a tool call, and the model was told what to fix each time.
    assert report_calls(run) == []
    prompts = tool_answers(script.seen[-1])
    assert any("Unknown tool name: 'delete_usage'" in p for p in prompts)
    assert any("invalid arguments for usage_summary" in p and "group_by" in p for p in prompts)
    assert answer["final_response"] == "## Your AI spend\n\nThe recommendations below are ranked by what they save."
    assert answer["report"]["model"] == "openai:gpt-recorded"


async def test_the_triage_reads_a_scope_value_only_if_the_org_has_it(make_settings, recorded_run):
    proposes = {**TRIAGE, "feature": "support-bot", "model": "gpt-9-imaginary"}
    script = Script(proposes, [prose(lambda returned: "## Your AI spend\n\nSee the recommendations below.\n")])
    run = recorded_run("How is the support bot doing on cost?", recorded_llm(make_settings("openai:x"), script))

    answer = await run_supervisor(run.ctx)

    report = answer["report"]
    assert report["scope"] == {"feature": "support-bot"}
    assert any("model gpt-9-imaginary, which the stored usage does not carry" in c for c in report["caveats"])
    assert all(d["args"].get("feature") == "support-bot" for d in run.of("tool_executing")
               if d["tool"] != "profile_usage")
