"""The supervisor and its four sub-agents: triage -> data -> optimization -> report."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

from spendpilot.agents.answers import add_intent_blocks, render_general
from spendpilot.agents.context import AgentContext
from spendpilot.agents.intents import BY_NAME, analyses_for
from spendpilot.agents.model import Rewrite
from spendpilot.agents.plan import Plan
from spendpilot.agents.report import build_report, period_of
from spendpilot.agents.toolbox import ToolBox
from spendpilot.agents.triage import DESCRIPTION as TRIAGE_DESCRIPTION
from spendpilot.agents.triage import run_triage, sufficiency_of
from spendpilot.analytics.analyses import BY_TOOL, SAVINGS
from spendpilot.analytics.catalog import TOOLS

AGENTS = {
    "supervisor": "Plans the analysis and hands each step to a specialist agent.",
    "triage": TRIAGE_DESCRIPTION,
    "data": "Measures spend, tokens, requests, latency and errors by model, provider, feature and day.",
    "optimization": "Looks for waste: over-sized models, uncached prompts, batchable traffic, retries, "
                    "oversized outputs, anomalies.",
    "report": "Writes the report: summary, ranked recommendations, action plan and caveats.",
}

__all__ = ["AGENTS", "run_supervisor", "sufficiency_of"]


async def run_supervisor(ctx: AgentContext) -> dict:
    started = time.perf_counter()
    await ctx.emit("agent_started", {"agent": "supervisor", "description": AGENTS["supervisor"]})
    await ctx.think("I will triage the question, measure the spend, look for waste, then write the report.")
    plan = await run_triage(ctx)
    data = await _data(ctx, plan)
    findings, anomalies = await _optimization(ctx, plan)
    report, markdown = await _report(ctx, plan, data, findings, anomalies)
    ctx.current_agent = "supervisor"
    ctx.checkpoint()
    if not plan.has_data:
        summary = "No usage data: answered with import guidance"
    elif plan.intent == "general":
        summary = "Not a question about usage: answered with what Spendpilot can answer"
    else:
        summary = (f"{len(report['recommendations'])} recommendations worth "
                   f"${report['total_monthly_savings_usd']:,.2f}/month")
    answer = {"summary": summary, "duration_ms": round((time.perf_counter() - started) * 1000, 2),
              "final_response": markdown, "report": report}
    if ctx.basis.regenerates:
        answer["regenerates"] = ctx.basis.regenerates
    return answer


async def _intent_tools(ctx: AgentContext, plan: Plan, agent: str) -> None:
    """Run the intent's catalogue tools that belong to this agent; their results go to plan.results."""
    if not plan.has_data:
        return
    for name in BY_NAME[plan.intent].tools:
        if TOOLS[name].agent != agent:
            continue
        args = plan.tool_args(name)
        if args is not None:
            plan.results[name] = await ctx.call(name, args)


async def _data(ctx: AgentContext, plan: Plan) -> dict:
    async with ctx.agent("data", AGENTS["data"]) as step:
        if not plan.has_data:
            await ctx.think("There is no usage to measure yet.")
            step.summary = "no usage data"
            empty: dict[str, Any] = {"from": None, "to": None, "total_usd": 0.0, "total_requests": 0, "groups": []}
            return {"summary": empty, "overview": None}
        if plan.intent == "general":
            await ctx.think("The question is not about this organisation's usage; reading only what its spend "
                            "covers, to say what can be asked about it.")
            summary = await ctx.call("usage_summary", plan.summary("model"))
            step.summary = f"${summary['total_usd']:,.2f} over {summary['total_requests']:,} requests"
            return {"summary": summary, "overview": None}
        names_users = plan.profile["fields_present"].get("user") and plan.scope.user is None
        await ctx.think(f"Measuring spend of {plan.scope.describe()} by model, then run-rate, latency, errors and "
                        "trend" + (", and who spends it." if names_users else "."))
        if {a.tool for a in SAVINGS} <= set(_analyses(plan)):
            # The whole analysis follows: its reads are made at once, together with other runs' waiting now.
            await ctx.until_cancelled(ctx.usage.warm(plan.period, plan.scope))
        summary = await ctx.call("usage_summary", plan.summary("model"))
        overview = await ctx.call("spend_overview", plan.window())
        by_user = None
        if names_users:
            # The calls name who made them: the report names the top spenders.
            by_user = await ctx.call("usage_summary", plan.summary("user"))
        await _intent_tools(ctx, plan, "data")
        step.summary = (f"${summary['total_usd']:,.2f} over {summary['total_requests']:,} requests; "
                        f"${overview['monthly_usd']:,.2f}/month run-rate")
    return {"summary": summary, "overview": overview, "by_user": by_user}


def _analyses(plan: Plan) -> list[str]:
    if not plan.has_data or plan.intent == "general":
        return []
    if plan.intent == "finding_detail" and plan.finding is not None:
        tool = plan.finding.tool()
        return [tool] if tool else [a.tool for a in SAVINGS]
    return analyses_for(plan.intent)


async def _optimization(ctx: AgentContext, plan: Plan) -> tuple[list[dict], list[dict]]:
    names = _analyses(plan)
    findings: list[dict] = []
    anomalies: list[dict] = []
    async with ctx.agent("optimization", AGENTS["optimization"]) as step:
        if names:
            await ctx.think(f"Running {', '.join(names)} on {plan.scope.describe()}.")
        elif plan.intent == "general":
            await ctx.think("Running no analyses: the question is not about this organisation's usage.")
        else:
            await ctx.think("Running no analyses: " + ("nothing to analyse." if not plan.has_data
                                                       else "the question asks where the money goes, not how to "
                                                            "save it."))
        for name in names:
            result = await ctx.call(name, plan.window())
            (anomalies if BY_TOOL[name].kind == "anomalies" else findings).extend(result)
        await _intent_tools(ctx, plan, "optimization")
        total = sum(f["monthly_savings_usd"] for f in findings)
        step.summary = f"{len(findings)} findings, ${total:,.2f}/month"
    return findings, anomalies


async def _report(ctx: AgentContext, plan: Plan, data: dict, findings: list[dict],
                  anomalies: list[dict]) -> tuple[dict, str]:
    async with ctx.agent("report", AGENTS["report"]) as step:
        await ctx.think("Ranking the recommendations by monthly saving and writing the summary.")
        report = build_report(period=period_of(plan.profile, plan.period), summary=data["summary"],
                              overview=data["overview"], sufficiency=plan.sufficiency, findings=findings,
                              anomalies=anomalies, profile=plan.profile, by_user=data.get("by_user"),
                              facts=ctx.facts, scope=plan.scope.as_dict())
        add_intent_blocks(report, plan, ctx.facts)
        report["intent"] = plan.intent
        report["model"] = ctx.model.name
        # What the model had to say about itself (e.g. that the offline model stood in for it); the prose may
        # repeat these caveats, so what they state is grounded too.
        report["caveats"].extend(plan.notes)
        for note in plan.notes:
            ctx.facts.add_text(note)
        if plan.intent == "general" and plan.has_data:
            # What Spendpilot can answer is not the model's to make up: the same short text whoever writes.
            report["model"] = "offline"
            markdown = render_general(report)
            await ctx.emit("partial_result", {"agent": "report", "delta": markdown})
            step.summary = "what Spendpilot can answer"
            return report, markdown
        tools = ToolBox(ctx, plan.period, plan.scope) if plan.has_data else None
        chunks: list[str] = []
        # write_report may fall back itself: it then adds its caveat, sets report["model"], and may
        # yield a Rewrite that replaces what it streamed before.
        async with aclosing(ctx.model.write_report(report, plan.intent, ctx.facts, tools)) as deltas:
            while (delta := await _next_delta(ctx, deltas)) is not None:
                if isinstance(delta, Rewrite):
                    await ctx.think(delta.reason)
                    if chunks:
                        # Tells clients to drop the prose streamed so far; the rewrite follows.
                        await ctx.emit("partial_result", {"agent": "report", "delta": "", "reset": True})
                    chunks.clear()
                    continue
                chunks.append(delta)
                await ctx.emit("partial_result", {"agent": "report", "delta": delta})
        step.summary = f"{len(report['recommendations'])} recommendations"
    return report, "".join(chunks).strip()


async def _next_delta(ctx: AgentContext, deltas):
    """The model's next delta, or None at the end; a cancel stops a model still waiting on its provider."""
    step = asyncio.ensure_future(anext(deltas))
    try:
        return await ctx.until_cancelled(step)
    except StopAsyncIteration:
        return None
    except BaseException:
        # The generator has to finish unwinding before aclosing() can close it.
        step.cancel()
        await asyncio.wait({step})
        raise
