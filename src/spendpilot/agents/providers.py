"""The LLM providers SPENDPILOT_LLM may name, each declared once, built on pydantic-ai's provider classes.

Adding a provider is one entry in PROVIDERS: its key setting, default URL and how to build the
pydantic-ai model over an SDK client that never retries (the offline model is the retry).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic_ai.models import Model

from spendpilot.agents.model import LLMConfigError
from spendpilot.config import Settings

# (model name, base URL, API key, timeout) -> (pydantic-ai model, the SDK client to close and ping)
Builder = Callable[[str, str, "str | None", float], tuple[Model, Any]]


def _openai_model(provider_name: str) -> Builder:
    def build(model: str, base_url: str, api_key: str | None, timeout_s: float) -> tuple[Model, Any]:
        from openai import AsyncOpenAI
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider
        from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

        # A local server may want no key, but the SDK insists on one.
        client = AsyncOpenAI(api_key=api_key or "not-needed", base_url=base_url, max_retries=0, timeout=timeout_s)
        provider = (OpenAIProvider(openai_client=client) if provider_name == "openai"
                    else OpenAICompatibleProvider(provider_name, openai_client=client))
        return OpenAIChatModel(model, provider=provider), client
    return build


def _anthropic_model(model: str, base_url: str, api_key: str | None, timeout_s: float) -> tuple[Model, Any]:
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_s)
    return AnthropicModel(model, provider=AnthropicProvider(anthropic_client=client)), client


@dataclass(frozen=True)
class LLMProvider:
    name: str
    build: Builder
    # The settings attribute holding its API key; None: the key is optional (SPENDPILOT_LLM_API_KEY).
    key_setting: str | None
    default_url: str | None
    aliases: tuple[str, ...] = ()
    # Servers that may lack tool calling are asked for structured answers as JSON in the text.
    prompted_output: bool = False


PROVIDERS: dict[str, LLMProvider] = {p.name: p for p in (
    LLMProvider("openai", _openai_model("openai"), "openai_api_key", "https://api.openai.com/v1"),
    LLMProvider("anthropic", _anthropic_model, "anthropic_api_key", "https://api.anthropic.com"),
    # Gemini through its OpenAI-compatible endpoint: no Google SDK needed.
    LLMProvider("gemini", _openai_model("gemini"), "gemini_api_key",
                "https://generativelanguage.googleapis.com/v1beta/openai/", aliases=("google",)),
    LLMProvider("openai-compatible", _openai_model("openai-compatible"), None, None, prompted_output=True),
)}
_BY_ALIAS = {alias: p for p in PROVIDERS.values() for alias in (p.name, *p.aliases)}

FORMS = ("'offline' (the default), " + ", ".join(
    f"'{p.name}:<model>'" for p in PROVIDERS.values() if p.default_url)
    + " or 'openai-compatible:<model>@<base_url>'")


@dataclass(frozen=True)
class LLMChoice:
    """What SPENDPILOT_LLM asked for, checked: provider, model, where to reach it and with which key."""

    provider: LLMProvider
    model: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.provider.name}:{self.model}"

    def build(self, timeout_s: float) -> tuple[Model, Any]:
        return self.provider.build(self.model, self.base_url, self.api_key, timeout_s)


def parse_llm_setting(settings: Settings) -> LLMChoice:
    """Read SPENDPILOT_LLM and the settings it needs; raise LLMConfigError with the fix if anything is off."""
    raw = (settings.llm or "").strip()
    prefix, colon, rest = raw.partition(":")
    provider = _BY_ALIAS.get(prefix.strip().lower())
    rest = rest.strip()
    if provider is None:
        raise LLMConfigError(f"SPENDPILOT_LLM={raw!r} is not a model Spendpilot can use; use {FORMS}.")
    if not colon or not rest:
        raise LLMConfigError(f"SPENDPILOT_LLM={raw!r} names no model; use {FORMS}.")
    if settings.llm_timeout_s <= 0:
        raise LLMConfigError(f"SPENDPILOT_LLM_TIMEOUT_S must be positive, not {settings.llm_timeout_s}.")
    if provider.default_url is None:
        match = re.fullmatch(r"(?P<model>.+?)@(?P<url>https?://.+)", rest)
        if not match or not urlsplit(match["url"]).hostname:
            raise LLMConfigError(f"SPENDPILOT_LLM={raw!r}: an OpenAI-compatible server is given as "
                                 "'openai-compatible:<model>@<base_url>', e.g. "
                                 "'openai-compatible:llama3.1@http://127.0.0.1:11434/v1'.")
        model, base_url, api_key = match["model"].strip(), match["url"].strip(), settings.llm_api_key
    else:
        assert provider.key_setting is not None
        model, base_url = rest, settings.llm_base_url or provider.default_url
        api_key = getattr(settings, provider.key_setting)
        if not api_key:
            raise LLMConfigError(f"SPENDPILOT_LLM={raw!r} needs SPENDPILOT_{provider.key_setting.upper()}.")
    if not model or any(ch.isspace() for ch in model):
        raise LLMConfigError(f"SPENDPILOT_LLM={raw!r}: {model!r} is not a model name.")
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise LLMConfigError(f"SPENDPILOT_LLM_BASE_URL={base_url!r} is not an http(s) URL.")
    return LLMChoice(provider, model, base_url, api_key)
