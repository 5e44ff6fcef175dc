"""Choose the model that writes triage and report prose: offline by default, an LLM when SPENDPILOT_LLM says so.

Every model has the same small interface, which the pipeline relies on:

- ``name``: what ``report["model"]`` and the health check show.
- ``async triage(content, profile) -> dict`` with ``intent``, ``period`` (a tools.Period), ``rationale`` and
  ``notes`` (caveats for the report, e.g. that the offline model stood in for the LLM).
- ``write_report(report, intent)``: an async generator of markdown deltas. It may yield a ``Rewrite`` to
  discard what it streamed so far, and when it falls back it appends to ``report["caveats"]`` and sets
  ``report["model"]`` itself (the report is the run's own dict, so this is safe across concurrent runs).
- ``async ping()``: a cheap reachability check for /api/health; ``async aclose()`` releases connections.
"""

from __future__ import annotations

from dataclasses import dataclass

from spendpilot.config import Settings


class LLMConfigError(ValueError):
    """SPENDPILOT_LLM (or a setting it needs) is not usable; raised at start, never during a run."""


@dataclass(frozen=True)
class Rewrite:
    """Yielded by write_report: drop the prose streamed so far; the deltas that follow replace it."""

    reason: str


def build_model(settings: Settings):
    if not settings.llm or settings.llm.strip().lower() == "offline":
        from spendpilot.agents.offline import OfflineModel

        return OfflineModel()
    # Imported here so the offline default never loads the provider SDKs.
    from spendpilot.agents.llm import LLMModel, parse_llm_setting

    return LLMModel(parse_llm_setting(settings), settings)
