"""Choose the model that writes triage and report prose: offline by default."""

from __future__ import annotations

from spendpilot.agents.offline import OfflineModel
from spendpilot.config import Settings


def build_model(settings: Settings):
    if not settings.llm or settings.llm == "offline":
        return OfflineModel()
    raise ValueError(f"unsupported SPENDPILOT_LLM value {settings.llm!r}")
