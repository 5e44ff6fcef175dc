"""The tools Spendpilot offers other agents (MCP): every tool of the catalogue, plus two that combine them.

The catalogue (analytics.catalog.TOOLS) is read as it stands, so a tool added there appears here with
its name, description and typed arguments and no code in this package. The two composites answer
the questions people ask most from an IDE or a desktop assistant in one call:

- `find_savings`: every savings analysis's recommendations, ranked as a report ranks them;
- `analyze_costs`: the whole report of a chat run (the same pipeline, figures and prose), not stored.

Every tool only reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from spendpilot.agents.report import rank_recommendations
from spendpilot.analytics.analyses import SAVINGS
from spendpilot.analytics.catalog import TOOLS, PeriodArgs, ScopedArgs
from spendpilot.analytics.catalog import Tool as CatalogueTool
from spendpilot.interop.analysis import DEFAULT_QUESTION, analyze
from spendpilot.services import Services

Run = Callable[[Services, str, Any], Awaitable[Any]]  # (services, org_id, validated arguments) -> result


@dataclass(frozen=True)
class InteropTool:
    name: str
    description: str
    arguments: type[BaseModel]
    run: Run
    title: str

    def input_schema(self) -> dict:
        """The arguments as JSON Schema, under the names callers send (`from`, `to`, ...)."""
        return self.arguments.model_json_schema(by_alias=True)


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _from_catalogue(tool: CatalogueTool) -> InteropTool:
    async def run(services: Services, org_id: str, args: Any) -> Any:
        return await tool.run(services.org_usage(org_id), args)

    return InteropTool(tool.name, tool.description, tool.arguments, run, _title(tool.name))


async def _find_savings(services: Services, org_id: str, args: ScopedArgs) -> dict:
    usage = services.org_usage(org_id)
    findings: list[dict] = []
    for analysis in SAVINGS:
        findings.extend(await TOOLS[analysis.tool].run(usage, args))
    recommendations, total = rank_recommendations(findings)
    return {**args.shown(), "recommendations": recommendations, "total_monthly_savings_usd": total,
            "analyses": [analysis.tool for analysis in SAVINGS]}


class AnalyzeArgs(PeriodArgs):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    question: str = Field(DEFAULT_QUESTION, min_length=1, max_length=2000,
                          description="What to ask, as in the chat; the default asks for a full cost review.")


async def _analyze_costs(services: Services, org_id: str, args: AnalyzeArgs) -> dict:
    return await analyze(services, org_id, args.question, args.period)


_COMPOSITES = (
    InteropTool("find_savings", "Every savings recommendation (right-sizing, caching, batching, retries, "
                "oversized outputs) with its monthly saving, evidence and assumptions, largest first.",
                ScopedArgs, _find_savings, "Find savings"),
    InteropTool("analyze_costs", "The whole cost report a Spendpilot chat answers with: spend, monthly run-rate, "
                "ranked recommendations, total savings, caveats, and the answer as markdown.",
                AnalyzeArgs, _analyze_costs, "Analyze costs"),
)


def interop_tools() -> dict[str, InteropTool]:
    """Read at each call, so the list follows the catalogue."""
    tools = {name: _from_catalogue(tool) for name, tool in TOOLS.items()}
    tools.update({tool.name: tool for tool in _COMPOSITES})
    return tools
