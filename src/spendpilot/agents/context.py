"""What an agent sees of its run: emit events, call tools, honour cancel. No sockets here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from spendpilot.agents.conversation import Basis, BasisSource
from spendpilot.agents.grounding import Facts
from spendpilot.agents.model import ProseModel
from spendpilot.analytics.budgets import BudgetSource
from spendpilot.analytics.catalog import TOOLS, OrgUsage
from spendpilot.analytics.store import AnalyticsStore

Emit = Callable[[str, dict], Awaitable[int]]


class RunCancelled(Exception):
    def __init__(self, reason: str = "cancelled by user"):
        super().__init__(reason)
        self.reason = reason


@dataclass
class AgentScope:
    name: str
    summary: str = ""
    started: float = field(default_factory=time.perf_counter)


class AgentContext:
    def __init__(self, *, run_id: str, org_id: str, content: str, emit: Emit, cancel: asyncio.Event,
                 analytics: AnalyticsStore, model: ProseModel):
        self.run_id = run_id
        self.org_id = org_id
        self.content = content
        self.emit = emit
        self.cancel = cancel
        self.analytics = analytics
        self.usage = OrgUsage(analytics, org_id)
        self.model = model
        # Every figure a tool of this run produced: what the model's text is held to.
        self.facts = Facts()
        # The earlier answer of the thread this run follows (set by with_conversation below).
        self.basis = Basis()
        self.current_agent = "supervisor"
        self._calls = 0

    def checkpoint(self) -> None:
        """Cancel takes effect between steps."""
        if self.cancel.is_set():
            raise RunCancelled()

    async def until_cancelled(self, awaitable: Awaitable):
        """Await something long (a tool, a queue) but stop at once if the run is cancelled."""
        if self.cancel.is_set() and asyncio.iscoroutine(awaitable):
            awaitable.close()  # never started: close it rather than leave it un-awaited
        self.checkpoint()
        work = asyncio.ensure_future(awaitable)
        stop = asyncio.ensure_future(self.cancel.wait())
        try:
            done, _ = await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            work.cancel()
            raise
        finally:
            stop.cancel()
        if work in done:
            return work.result()
        work.cancel()
        raise RunCancelled()

    @asynccontextmanager
    async def agent(self, name: str, description: str):
        self.checkpoint()
        parent = self.current_agent
        self.current_agent = name
        scope = AgentScope(name)
        await self.emit("agent_started", {"agent": name, "description": description})
        yield scope
        self.checkpoint()
        await self.emit("agent_completed", {"agent": name, "summary": scope.summary,
                                            "duration_ms": _ms_since(scope.started)})
        self.current_agent = parent

    async def think(self, thought: str) -> None:
        self.checkpoint()
        await self.emit("agent_thinking", {"agent": self.current_agent, "thought": thought})

    async def call(self, name: str, args: BaseModel | None = None) -> Any:
        """Run a tool of the catalogue (analytics.catalog) with its typed arguments."""
        tool = TOOLS[name]
        arguments = args if args is not None else tool.arguments()
        return await self.tool(name, arguments.model_dump(mode="json", by_alias=True),
                               lambda: tool.run(self.usage, arguments), tool.summarize)

    async def tool(self, name: str, args: dict, call: Callable[[], Awaitable[Any]],
                   summarize: Callable[[Any], Any] | None = None) -> Any:
        """Run a tool between its tool_executing and tool_completed events."""
        self.checkpoint()
        self._calls += 1
        call_id = f"call_{self._calls}"
        agent = self.current_agent
        await self.emit("tool_executing", {"agent": agent, "tool": name, "call_id": call_id, "args": args})
        started = time.perf_counter()
        try:
            result = await self.until_cancelled(call())
        except RunCancelled:
            raise
        except Exception as exc:
            await self.emit("tool_completed", {"agent": agent, "tool": name, "call_id": call_id, "ok": False,
                                               "result": {"error": type(exc).__name__, "message": str(exc)[:300]},
                                               "duration_ms": _ms_since(started)})
            raise
        self.facts.add_result(result)
        shown = summarize(result) if summarize else result
        await self.emit("tool_completed", {"agent": agent, "tool": name, "call_id": call_id, "ok": True,
                                           "result": shown, "duration_ms": _ms_since(started)})
        return result


def with_budgets(pipeline: Callable[[AgentContext], Awaitable[dict]],
                 budgets: BudgetSource) -> Callable[[AgentContext], Awaitable[dict]]:
    """The pipeline with the org's budgets readable by its tools (budget_status), wherever it runs."""

    async def run(ctx: AgentContext) -> dict:
        ctx.usage.budgets = budgets
        return await pipeline(ctx)

    return run


def with_conversation(pipeline: Callable[[AgentContext], Awaitable[dict]],
                      source: BasisSource) -> Callable[[AgentContext], Awaitable[dict]]:
    """The pipeline with each run's basis read from its thread first, wherever it runs."""

    async def run(ctx: AgentContext) -> dict:
        ctx.basis = await source(ctx.run_id)
        return await pipeline(ctx)

    return run


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
