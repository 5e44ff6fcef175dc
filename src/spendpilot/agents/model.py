"""The interface every prose model has (offline or LLM), which the pipeline relies on.

- ``name``: what ``report["model"]`` and the health check show.
- ``async triage(content, profile, facts, basis) -> dict`` with ``intent``, ``period`` (an analytics Period, or
  None when the question names none), ``rationale``, ``notes`` (caveats for the report, e.g. that the offline
  model stood in for the LLM) and optionally ``scope`` (values it read, checked against the org's own).
  ``basis`` is the earlier answer the question follows (agents.conversation), for a follow-up's context.
- ``write_report(report, intent, facts, tools)``: an async generator of markdown deltas. It may yield a
  ``Rewrite`` to discard what it streamed so far, and when it falls back it appends to ``report["caveats"]``
  and sets ``report["model"]`` itself (the report is the run's own dict, so this is safe across runs).
  ``tools`` (``Tools``, in a run the agents.toolbox.ToolBox) lets a model that calls tools read more figures
  within the run's scope.
- ``facts`` (agents.grounding.Facts) are the run's grounded values: every figure its tools produced and
  every figure derived from them. Whatever a model writes is held to them before it is returned: the
  rationale and the deltas a prose model gives back are already grounded. Without facts (a model used on
  its own), they are read from the profile or the report.
- ``async ping()``: a cheap reachability check for /api/health; ``async aclose()`` releases connections.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from spendpilot.agents.conversation import Basis
    from spendpilot.agents.grounding import Facts


class LLMConfigError(ValueError):
    """SPENDPILOT_LLM (or a setting it needs) is not usable; raised at start, never during a run."""


@dataclass(frozen=True)
class Rewrite:
    """Yielded by write_report: drop the prose streamed so far; the deltas that follow replace it."""

    reason: str


class Tools(Protocol):
    """The catalogue tools a model may call, within its run's period and scope."""

    def names(self) -> list[str]: ...

    def schema(self, name: str) -> dict: ...

    def description(self, name: str) -> str: ...

    async def run(self, name: str, arguments: dict[str, Any]) -> Any: ...


class ProseModel(Protocol):
    name: str

    async def triage(self, content: str, profile: dict, facts: Facts | None = None,
                     basis: Basis | None = None) -> dict: ...

    def write_report(self, report: dict, intent: str, facts: Facts | None = None,
                     tools: Tools | None = None) -> AsyncGenerator[str | Rewrite, None]: ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...
