"""Choose the prose model at start: offline by default, an LLM when SPENDPILOT_LLM names one."""

from __future__ import annotations

from spendpilot.agents.model import ProseModel
from spendpilot.agents.offline import OfflineModel
from spendpilot.config import Settings


def build_model(settings: Settings) -> ProseModel:
    if not settings.llm or settings.llm.strip().lower() == "offline":
        return OfflineModel()
    # Imported here so the offline default never loads the provider SDKs.
    from spendpilot.agents.llm import LLMModel
    from spendpilot.agents.providers import parse_llm_setting

    return LLMModel(parse_llm_setting(settings), settings)
