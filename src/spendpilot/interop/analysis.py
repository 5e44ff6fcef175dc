"""A whole cost report for a tool call: the chat's agent pipeline, run in this request and stored nowhere.

An MCP tool is read-only, so `analyze_costs` writes no thread, message or event: it runs the same
supervisor and model a chat run does (the same figures, the same prose, the same fallbacks), under
the same deadline, and returns what the run's final event would carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from spendpilot.agents.context import AgentContext, with_budgets
from spendpilot.agents.conversation import Basis
from spendpilot.agents.grounding import Facts
from spendpilot.agents.model import ProseModel, Rewrite, Tools
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.analytics.window import Period
from spendpilot.errors import RateLimited, Unavailable
from spendpilot.ids import new_id
from spendpilot.services import Services

DEFAULT_QUESTION = "Analyze my AI costs"


class _WithPeriod:
    """The service's prose model, with the period the caller chose instead of one read from the question."""

    def __init__(self, model: ProseModel, period: Period):
        self.model = model
        self.period = period
        self.name = model.name

    async def triage(self, content: str, profile: dict, facts: Facts | None = None,
                     basis: Basis | None = None) -> dict:
        return {**await self.model.triage(content, profile, facts, basis), "period": self.period}

    def write_report(self, report: dict, intent: str, facts: Facts | None = None,
                     tools: Tools | None = None) -> AsyncGenerator[str | Rewrite, None]:
        return self.model.write_report(report, intent, facts, tools)

    async def ping(self) -> None:
        await self.model.ping()

    async def aclose(self) -> None:
        """The service's model outlives this call."""


async def _no_events(_type: str, _data: dict) -> int:
    return 0


# Analyses running in this process, per org: a whole report (an LLM call when one is configured) is the one
# costly tool, so an org gets as many at once as a person may have runs (SPENDPILOT_MAX_ACTIVE_RUNS_PER_USER).
_running: dict[str, int] = {}


async def analyze(services: Services, org_id: str, question: str, period: Period) -> dict:
    """{summary, final_response, report}: the answer a chat run with this question would end with."""
    limit = services.settings.max_active_runs_per_user
    if _running.get(org_id, 0) >= limit:
        raise RateLimited(f"at most {limit} analyses may run at once for an organisation; try again shortly",
                          retry_after_s=5, code="too_many_runs")
    _running[org_id] = _running.get(org_id, 0) + 1
    try:
        return await _analyze(services, org_id, question, period)
    finally:
        _running[org_id] -= 1
        if not _running[org_id]:
            del _running[org_id]


async def _analyze(services: Services, org_id: str, question: str, period: Period) -> dict:
    given = period.start is not None or period.end is not None
    model: ProseModel = _WithPeriod(services.model, period) if given else services.model
    ctx = AgentContext(run_id=new_id("mcp"), org_id=org_id, content=question, emit=_no_events,
                       cancel=asyncio.Event(), analytics=services.analytics, model=model)
    try:
        async with asyncio.timeout(services.settings.run_deadline_s):
            # The chat's own pipeline: its tools read the org's budgets too.
            answer = await with_budgets(run_supervisor, services.alerts.budgets.specs)(ctx)
    except TimeoutError as exc:
        raise Unavailable("deadline_exceeded", "the analysis did not finish before the run deadline") from exc
    return {"summary": answer["summary"], "final_response": answer["final_response"], "report": answer["report"]}
