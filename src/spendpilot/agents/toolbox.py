"""The catalogue tools a model may call while it writes, held to the run's scope.

A model that calls tools (pydantic-ai tool calls) gets every usage tool of the catalogue with the run's
scope keys taken out of its arguments: the scope is filled in here, so no call reads outside it, and the
period defaults to the run's. Each call goes through AgentContext.call like any other, so it is shown as
tool_executing/tool_completed and its figures join the run's facts before any text citing them is judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from spendpilot.agents.context import AgentContext
from spendpilot.analytics.catalog import TOOLS
from spendpilot.analytics.scope import KEYS, Scope
from spendpilot.analytics.window import Period

# Calls one writing turn may make: enough for a breakdown and a comparison, not a crawl of the data.
MAX_CALLS = 6
# Tools a writer has no use for: the profile was read in triage.
LEFT_OUT = frozenset({"profile_usage"})
_PERIOD_KEYS = ("from", "to")


class ToolRefused(ValueError):
    """A call the model should make differently (bad arguments, too many calls); the message says how."""


@dataclass
class ToolBox:
    ctx: AgentContext
    period: Period
    scope: Scope
    calls: int = 0
    results: list[dict] = field(default_factory=list)

    def names(self) -> list[str]:
        return [name for name in TOOLS if name not in LEFT_OUT]

    def schema(self, name: str) -> dict:
        """The tool's argument schema without the scope keys (the run fixes them)."""
        schema = TOOLS[name].arguments.model_json_schema(by_alias=True)
        properties = {k: v for k, v in schema.get("properties", {}).items() if k not in KEYS}
        required = [k for k in schema.get("required", []) if k not in KEYS]
        return {**schema, "properties": properties, "required": required}

    def description(self, name: str) -> str:
        return (f"{TOOLS[name].description} Reads only {self.scope.describe()}; "
                f"the period defaults to {self._period_text()}.")

    async def run(self, name: str, arguments: dict[str, Any]) -> Any:
        if name not in TOOLS or name in LEFT_OUT:
            raise ToolRefused(f"there is no tool {name!r}; use one of: {', '.join(self.names())}")
        if self.calls >= MAX_CALLS:
            raise ToolRefused(f"at most {MAX_CALLS} tool calls are allowed; write the answer from what you have")
        fields = TOOLS[name].arguments.model_fields
        given = {k: v for k, v in (arguments or {}).items() if k not in KEYS}
        for key in _PERIOD_KEYS:
            if key not in given and _accepts(fields, key):
                value = self.period.args()[key]
                if value is not None:
                    given[key] = value
        scoped = {k: v for k, v in self.scope.as_dict().items() if k in fields}
        try:
            args = TOOLS[name].arguments.model_validate({**given, **scoped})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                                 for e in exc.errors()[:5])
            raise ToolRefused(f"invalid arguments for {name}: {problems}") from None
        self.calls += 1
        try:
            result = await self.ctx.call(name, args)
        except ValueError as exc:
            raise ToolRefused(f"{name} could not answer: {exc}") from None
        self.results.append({"tool": name, "args": args.model_dump(mode="json", by_alias=True)})
        # What the model reads back is what the tool event shows (an analysis's headline numbers).
        summarize = TOOLS[name].summarize
        return summarize(result) if summarize is not None else result

    def _period_text(self) -> str:
        shown = self.period.args()
        if shown["from"] and shown["to"]:
            return f"{shown['from']} to {shown['to']}"
        return "all stored usage"


def _accepts(fields: dict, key: str) -> bool:
    return any(info.alias == key or name == key for name, info in fields.items())
