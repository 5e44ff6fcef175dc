"""The supervisor and its four sub-agents: triage -> data -> optimization -> report."""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from typing import Any

from spendpilot.agents import whatif
from spendpilot.agents.context import AgentContext
from spendpilot.agents.intents import BY_NAME, analyses_for
from spendpilot.agents.model import Rewrite
from spendpilot.agents.report import add_whatif, build_report, period_of
from spendpilot.analytics.analyses import BY_TOOL
from spendpilot.analytics.catalog import TOOLS, PeriodArgs, ScopedArgs, SummaryArgs
from spendpilot.analytics.window import Period

AGENTS = {
    "supervisor": "Plans the analysis and hands each step to a specialist agent.",
    "triage": "Works out what is being asked and whether the organisation's usage data can answer it.",
    "data": "Measures spend, tokens, requests, latency and errors by model, provider, feature and day.",
    "optimization": "Looks for waste: over-sized models, uncached prompts, batchable traffic, retries, "
                    "oversized outputs, anomalies.",
    "report": "Writes the report: summary, ranked recommendations, action plan and caveats.",
}

MIN_ROWS, MIN_DAYS = 1000, 14


def sufficiency_of(profile: dict) -> str:
    if profile["rows"] == 0:
        return "insufficient"
    if profile["rows"] >= MIN_ROWS and profile["days_covered"] >= MIN_DAYS:
        return "sufficient"
    return "partial"


async def run_supervisor(ctx: AgentContext) -> dict:
    started = time.perf_counter()
    await ctx.emit("agent_started", {"agent": "supervisor", "description": AGENTS["supervisor"]})
    await ctx.think("I will triage the question, measure the spend, look for waste, then write the report.")
    triage = await _triage(ctx)
    data = await _data(ctx, triage)
    findings, anomalies = await _optimization(ctx, triage)
    report, markdown = await _report(ctx, triage, data, findings, anomalies, triage["whatif_results"])
    ctx.current_agent = "supervisor"
    ctx.checkpoint()
    summary = (f"{len(report['recommendations'])} recommendations worth "
               f"${report['total_monthly_savings_usd']:,.2f}/month" if triage["sufficiency"] != "insufficient"
               else "No usage data: answered with import guidance")
    return {"summary": summary, "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "final_response": markdown, "report": report}


async def _triage(ctx: AgentContext) -> dict:
    async with ctx.agent("triage", AGENTS["triage"]) as scope:
        await ctx.think("Checking how much usage data this organisation has and what the question asks.")
        profile = await ctx.call("profile_usage")
        decided = await ctx.until_cancelled(ctx.model.triage(ctx.content, profile))
        sufficiency = sufficiency_of(profile)
        intent = decided["intent"] if sufficiency != "insufficient" else "data_import_help"
        await ctx.think(f"{decided['rationale']} Data: {profile['rows']:,} rows over "
                        f"{profile['days_covered']} days, so data is {sufficiency}.")
        supposed = whatif.read(ctx.content)
        if BY_NAME[intent].tools:
            await ctx.think(f"The question supposes {supposed.describe()}.")
        scope.summary = f"intent={intent}, data={sufficiency}"
    return {"intent": intent, "period": decided["period"], "profile": profile, "sufficiency": sufficiency,
            "notes": decided.get("notes", []), "whatif": supposed, "whatif_results": {}}


async def _intent_tools(ctx: AgentContext, triage: dict, agent: str) -> None:
    """Run the intent's catalogue tools that belong to this agent; results go to triage["whatif_results"]."""
    if triage["sufficiency"] == "insufficient":
        return
    for name in BY_NAME[triage["intent"]].tools:
        if TOOLS[name].agent != agent:
            continue
        args = whatif.tool_args(name, triage["whatif"], triage["period"])
        if args is not None:
            triage["whatif_results"][name] = await ctx.call(name, args)


async def _data(ctx: AgentContext, triage: dict) -> dict:
    period: Period = triage["period"]
    async with ctx.agent("data", AGENTS["data"]) as scope:
        if triage["sufficiency"] == "insufficient":
            await ctx.think("There is no usage to measure yet.")
            scope.summary = "no usage data"
            empty: dict[str, Any] = {"from": None, "to": None, "total_usd": 0.0, "total_requests": 0, "groups": []}
            return {"summary": empty, "overview": None}
        await ctx.think("Measuring spend by model, then run-rate, latency, errors and trend.")
        window = ScopedArgs(start=period.start, end=period.end)
        summary = await ctx.call("usage_summary", SummaryArgs(start=period.start, end=period.end, group_by="model"))
        overview = await ctx.call("spend_overview", window)
        await _intent_tools(ctx, triage, "data")
        scope.summary = (f"${summary['total_usd']:,.2f} over {summary['total_requests']:,} requests; "
                         f"${overview['monthly_usd']:,.2f}/month run-rate")
    return {"summary": summary, "overview": overview}


async def _optimization(ctx: AgentContext, triage: dict) -> tuple[list[dict], list[dict]]:
    period: Period = triage["period"]
    names = [] if triage["sufficiency"] == "insufficient" else analyses_for(triage["intent"])
    findings: list[dict] = []
    anomalies: list[dict] = []
    async with ctx.agent("optimization", AGENTS["optimization"]) as scope:
        await ctx.think("Running " + (", ".join(names) if names else "no analyses: nothing to analyse") + ".")
        window = PeriodArgs(start=period.start, end=period.end)
        for name in names:
            result = await ctx.call(name, window)
            (anomalies if BY_TOOL[name].kind == "anomalies" else findings).extend(result)
        await _intent_tools(ctx, triage, "optimization")
        total = sum(f["monthly_savings_usd"] for f in findings)
        scope.summary = f"{len(findings)} findings, ${total:,.2f}/month"
    return findings, anomalies


async def _report(ctx: AgentContext, triage: dict, data: dict, findings: list[dict],
                  anomalies: list[dict], whatif_results: dict) -> tuple[dict, str]:
    async with ctx.agent("report", AGENTS["report"]) as scope:
        await ctx.think("Ranking the recommendations by monthly saving and writing the summary.")
        report = build_report(period=period_of(triage["profile"], triage["period"]), summary=data["summary"],
                              overview=data["overview"], sufficiency=triage["sufficiency"], findings=findings,
                              anomalies=anomalies, profile=triage["profile"])
        add_whatif(report, whatif_results)
        report["intent"] = triage["intent"]
        report["model"] = ctx.model.name
        # What the model had to say about itself (e.g. that the offline model stood in for it).
        report["caveats"].extend(triage["notes"])
        chunks: list[str] = []
        # write_report may fall back itself: it then adds its caveat, sets report["model"], and may
        # yield a Rewrite that replaces what it streamed before.
        async with aclosing(ctx.model.write_report(report, triage["intent"])) as deltas:
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
        scope.summary = f"{len(report['recommendations'])} recommendations"
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
