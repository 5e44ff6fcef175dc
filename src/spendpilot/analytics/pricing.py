"""Prices of LLM calls from genai-prices' bundled tables (offline; never auto-updated).

Every price is the one in force on the row's date (genai-prices' price history), for the row's
service tier (flex, priority, batch, fast), including cache writes (5-minute and 1-hour), web
searches and audio/image tokens where the tables price them. See price_tables for the schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import Usage, calc_price

from .price_tables import FAST_KEYS, Rates, Resolved, resolve

# Providers whose batch APIs bill at half the interactive price (used where the tables carry no
# batch prices for the model or the row's date).
BATCH_DISCOUNT = {"openai": 0.5, "anthropic": 0.5, "google": 0.5}

# Names seen in exports and OpenTelemetry mapped to genai-prices provider ids.
PROVIDER_ALIASES = {
    "gemini": "google",
    "google_genai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "gcp.vertex_ai": "google",
    "vertexai": "google",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "azure_ai": "azure",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}
# Model-name prefixes gateways put before a provider's own model id ("anthropic/claude-...",
# "bedrock/us.anthropic...", "openrouter/anthropic/..."), mapped to the provider they name.
GATEWAY_PREFIXES = {
    "openai": "openai", "anthropic": "anthropic", "azure": "azure", "azure_ai": "azure",
    "bedrock": "aws", "bedrock_converse": "aws", "aws": "aws", "vertex_ai": "google",
    "vertex_ai_beta": "google", "gemini": "google", "google": "google", "mistral": "mistral",
    "groq": "groq", "deepseek": "deepseek", "xai": "x-ai", "x-ai": "x-ai", "cohere": "cohere",
    "together_ai": "together", "fireworks_ai": "fireworks", "perplexity": "perplexity",
    "openrouter": "openrouter",
}
# Providers that are themselves routers: their model names keep the upstream's prefix.
ROUTERS = {"openrouter"}
# A row's provider that only says which proxy logged it, not who served the call.
PROXIES = {"litellm", "portkey", "helicone", "proxy"}
# Bedrock model ids: inference profiles ("us.anthropic.claude-...") and foundation models.
BEDROCK_PREFIXES = ("us.", "eu.", "apac.", "global.", "anthropic.", "amazon.", "meta.", "cohere.", "ai21.")

# genai-prices usage keys a row may carry beyond plain input/output/cache tokens.
EXTRA_KEYS = ("cache_write_1h_tokens", "web_searches", "input_audio_tokens", "output_audio_tokens",
              "cache_audio_read_tokens", "input_image_tokens", "output_image_tokens", "cache_image_read_tokens")
# Service tiers that select a price variant (anything else is the standard price).
PRICED_TIERS = {"flex", "priority", "fast", "scale"}


def canonical_provider(provider: str | None, model: str | None = None) -> str:
    """Provider id for a row: the alias table first, else a guess from the model name."""
    name = (provider or "").strip().lower()
    if name:
        return PROVIDER_ALIASES.get(name, name)
    m = (model or "").lower()
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci")):
        return "openai"
    if m.startswith("claude"):
        return "anthropic"
    if m.startswith(("gemini", "gemma")):
        return "google"
    if m.startswith(("mistral", "codestral", "ministral")):
        return "mistral"
    if m.startswith(BEDROCK_PREFIXES):
        return "aws"
    return ""


# Every priced row asks twice (build_row, then the price lookup), and rows of an export repeat a few names.
@lru_cache(maxsize=4096)
def canonical_name(provider: str | None, model: str) -> tuple[str, str]:
    """(provider id, model) with a gateway's prefix moved from the model name to the provider.

    `anthropic/claude-sonnet-4-5` -> (anthropic, claude-sonnet-4-5); `openrouter/anthropic/
    claude-3.5-sonnet` -> (openrouter, anthropic/claude-3.5-sonnet), OpenRouter's own slug; a
    row whose provider is OpenRouter keeps its slug.
    """
    model = model.strip()
    stated = canonical_provider(provider) if (provider or "").strip() else ""
    if stated in PROXIES:
        stated = ""
    prefix, slash, rest = model.partition("/")
    named = GATEWAY_PREFIXES.get(prefix.lower()) if slash and rest else None
    if stated in ROUTERS:
        return stated, rest if named == stated else model
    if named and (not stated or stated == named):
        return named, rest
    return stated or canonical_provider("", model), model


def price_context(provider: str, service_tier: str = "", is_batch: bool = False) -> dict[str, str]:
    """The genai-prices price context of a row: batch processing, a service tier, fast mode."""
    tier = (service_tier or "").strip().lower()
    if is_batch or tier == "batch":
        return {"processing": "batch"}
    if tier == "fast" and provider == "anthropic":
        return {"speed": "fast"}
    if tier in PRICED_TIERS:
        return {"service_tier": tier}
    return {}


@lru_cache(maxsize=4096)
def _lookup(provider: str, model: str) -> Resolved | None:
    """Resolve (provider, model) against the tables once; None when unknown."""
    if not model:
        return None
    found = resolve(provider or None, model, BATCH_DISCOUNT)
    if found is None or not found.rates().known:
        return None
    return found


def lookup(provider: str, model: str) -> Resolved | None:
    """The tables' entry for a row's (provider, model), gateway prefixes understood."""
    provider_id, name = canonical_name(provider, model)
    return _lookup(provider_id, name)


def rates_for(provider: str, model: str, when: datetime | None = None, service_tier: str = "",
              is_batch: bool = False) -> Rates | None:
    if when is not None:
        # Prices change at UTC midnight (or by time of day, for the few models priced so): per row, one lookup.
        day = (when.astimezone(UTC) if when.tzinfo is not None else when).date()
        on_day = _rates_on(provider, model, service_tier, is_batch, day)
        if not isinstance(on_day, Resolved):
            return on_day
    found = lookup(provider, model)
    if found is None:
        return None
    return found.rates(when, price_context(found.provider_id, service_tier, is_batch))


@lru_cache(maxsize=8192)
def _rates_on(provider: str, model: str, service_tier: str, is_batch: bool, day: date) -> Rates | Resolved | None:
    """The rates of every instant of a UTC day; the model's entry itself when they depend on the time of day."""
    found = lookup(provider, model)
    if found is None or found.varies_by_time_of_day:
        return found
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return found.rates(midnight, price_context(found.provider_id, service_tier, is_batch))


def model_price(provider: str, model: str, when: datetime | None = None) -> dict | None:
    """Per-million-token USD rates of a model, or None when the tables do not know it.

    ``{"provider", "model", "input_mtok", "output_mtok", "cache_read_mtok",
    "cache_write_mtok", "batch_discount", "tiered"}``; cache rates are None when the
    provider publishes none. Base (lowest-tier) rates are shown, as of `when` (default now).
    """
    found = lookup(provider, model)
    if found is None:
        return None
    rates = found.rates(when)
    r = rates.rates
    return {
        "provider": found.provider_id,
        "model": found.model_id,
        "input_mtok": r["input"][0] or 0.0,
        "output_mtok": r["output"][0] or 0.0,
        "cache_read_mtok": r["cache_read"][0],
        "cache_write_mtok": r["cache_write"][0],
        "batch_discount": BATCH_DISCOUNT.get(found.provider_id, 0.0),
        "tiered": rates.tiered,
    }


def _arith(rates: Rates, i: int, o: int, c: int, w: int, w1h: int, calls: int) -> float:
    """Plain tokens priced with a few multiplications (import prices every row)."""
    # Unknown call count (aggregated exports): assume calls stay below every tier.
    if rates.tiered:
        per_call = i / calls if calls > 0 else 0
        inp, out, cread, cwrite, cwrite_1h = (rates.at(key, per_call) for key in FAST_KEYS)
    else:
        inp, out, cread, cwrite, cwrite_1h = rates.bases
    inp = inp or 0.0
    out = out or 0.0
    cread = inp if cread is None else cread
    cwrite = inp if cwrite is None else cwrite
    cwrite_1h = cwrite if cwrite_1h is None else cwrite_1h
    usd = ((i - c - w) * inp + c * cread + (w - w1h) * cwrite + w1h * cwrite_1h + o * out) / 1_000_000
    return usd * rates.factor if rates.factor != 1.0 else usd


def price_usage(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    is_batch: bool = False,
    *,
    cache_write_tokens: int = 0,
    requests: int = 1,
    when: datetime | None = None,
    service_tier: str = "",
    extras: Mapping[str, int] | None = None,
) -> float | None:
    """USD cost of usage, or None when the model is unknown to the price tables.

    ``input_tokens`` counts every input token, including ``cached_input_tokens`` (billed
    at the cache-read rate) and ``cache_write_tokens`` (billed at the cache-write rate; the
    part written for an hour, ``extras["cache_write_1h_tokens"]``, at the 1-hour rate).
    ``when`` picks the prices in force that day (default now); ``service_tier`` and
    ``is_batch`` the tier's prices. ``requests`` is how many calls the numbers add up
    (aggregated exports), so tiers are chosen per call. ``extras`` holds the other
    genai-prices usage keys of EXTRA_KEYS (web searches, audio and image tokens).
    """
    rates = rates_for(provider, model, when, service_tier, is_batch)
    if rates is None:
        return None
    cached = min(max(cached_input_tokens, 0), input_tokens)
    written = min(max(cache_write_tokens, 0), input_tokens - cached)
    if not extras:  # plain tokens, as nearly every row has
        return _arith(rates, input_tokens, output_tokens, cached, written, 0, requests)
    extra = {k: v for k, v in extras.items() if v}
    written_1h = min(extra.pop("cache_write_1h_tokens", 0), written)
    if not extra:
        return _arith(rates, input_tokens, output_tokens, cached, written, written_1h, requests)
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_read_tokens": cached,
             "cache_write_tokens": written, "cache_write_1h_tokens": written_1h, **extra}
    return rates.total(usage, input_tokens / requests if requests > 0 else 0)


def pricer(provider: str, model: str) -> Callable[..., float] | None:
    """The fast per-call price function of a model at today's prices, or None when it is unknown.

    ``fn(input_tokens, output_tokens, cached, cache_written, is_batch, requests) -> USD``;
    for hot loops that price many calls of one model.
    """
    found = lookup(provider, model)
    if found is None:
        return None
    standard, batch = found.rates(), found.rates(None, {"processing": "batch"})

    def fn(i: int, o: int, c: int, w: int, is_batch: bool, calls: int) -> float:
        return _arith(batch if is_batch else standard, i, o, c, w, 0, calls)

    return fn


def exact_price(
    provider: str, model: str, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> Decimal | None:
    """genai-prices' own calculation for one call (slow; for checks, not per-row import)."""
    provider_id, name = canonical_name(provider, model)
    try:
        calc = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached_input_tokens),
            name,
            provider_id=provider_id or None,
        )
    except LookupError:
        return None
    return calc.total_price


def vector_price(provider: str, model: str, input_tokens: Any, output_tokens: Any, cached_input_tokens: Any,
                 is_batch: Any, requests: Any, *, when: datetime | None = None, cache_write_tokens: Any = None,
                 service_tier: str = "") -> Any:
    """price_usage over numpy arrays of many calls of one model on one pricing regime.

    ``when`` is any instant of the regime (rows of one model are split by price change dates
    first); None when the model is unknown.
    """
    import numpy as np

    found = lookup(provider, model)
    if found is None:
        return None
    context = price_context(found.provider_id, service_tier)
    standard = found.rates(when, context)
    batch = found.rates(when, {"processing": "batch"})
    n = len(input_tokens)
    written = np.zeros(n, dtype=np.int64) if cache_write_tokens is None else cache_write_tokens
    per_call = np.where(requests > 0, input_tokens / np.maximum(requests, 1), 0)

    def priced(rates: Rates) -> Any:
        def rate(key: str, fallback: Any) -> Any:
            base, tiers = rates.rates[key]
            if base is None:
                return fallback
            out = np.full(n, base)
            for start, price in tiers:  # ascending: the highest crossed tier wins
                out = np.where(per_call > start, price, out)
            return out

        inp = rate("input", np.zeros(n))
        out = rate("output", np.zeros(n))
        cread = rate("cache_read", inp)
        cwrite = rate("cache_write", inp)
        cached = np.minimum(cached_input_tokens, input_tokens)
        w = np.minimum(written, input_tokens - cached)
        # Same operation order as the per-call pricer, so both paths give identical floats.
        usd = ((input_tokens - cached - w) * inp + cached * cread + w * cwrite + 0 * cwrite
               + output_tokens * out) / 1_000_000
        return usd * rates.factor if rates.factor != 1.0 else usd

    plain = priced(standard)
    if not is_batch.any():
        return plain
    return np.where(is_batch.astype(bool), priced(batch), plain)


# Words that make a model a variant (audio, search, ...) rather than a family's plain chat model:
# a family name resolves only to models whose name adds none of these beyond what was asked.
VARIANT_WORDS = frozenset({
    "audio", "realtime", "tts", "image", "search", "transcribe", "preview", "codex", "instruct", "vision",
    "embedding", "extended", "cyber", "exp", "thinking", "live", "computer", "mini", "nano", "pro", "flash",
    "lite", "turbo", "chat", "deep", "research", "luna", "sol", "terra", "16k", "32k", "ft",
})
# A family word said alone names the vendor's family: "sonnet" is Claude Sonnet.
_FAMILY_PREFIX = {"sonnet": "claude", "opus": "claude", "haiku": "claude"}


def _version(parts: list[str]) -> tuple[int, ...]:
    """Numbers in a model id, in order, for "newest" (dates and other long numbers left out)."""
    numbers: list[int] = []
    for part in parts:
        for piece in part.split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            if digits and len(digits) < 6:
                numbers.append(int(digits))
    return tuple(numbers)


@lru_cache(maxsize=1024)
def resolve_model(name: str) -> dict | None:
    """A model as people name it ("gpt-4o", "gpt-4o mini", "claude sonnet") -> its price-table entry.

    An exact model name resolves to itself; a family name ("claude sonnet", "gemini flash") to the
    family's newest model in the genai-prices tables. ``{"provider", "model", "family"}`` or None.
    """
    words = [w for w in name.strip().lower().replace("_", " ").replace("-", " ").split() if w]
    if not words:
        return None
    if words[0] in _FAMILY_PREFIX:
        words.insert(0, _FAMILY_PREFIX[words[0]])
    exact = _lookup(canonical_provider("", "-".join(words)), "-".join(words))
    # A name with a version ("gpt-4o", "o3") is one model; without one ("gemini pro") it is a family.
    if exact is not None and any(ch.isdigit() for ch in name):
        return {"provider": exact.provider_id, "model": exact.model_id, "family": False}
    family = _newest_of_family(words)
    if family is not None:
        return family
    if exact is not None:
        return {"provider": exact.provider_id, "model": exact.model_id, "family": False}
    return None


def _newest_of_family(words: list[str]) -> dict | None:
    from genai_prices.data_snapshot import get_snapshot

    provider = canonical_provider("", words[0] + "-")
    candidates = []
    for entry in get_snapshot().providers:
        if provider and entry.id != provider:
            continue
        for model in entry.models:
            parts = model.id.lower().replace(".", "-").split("-")
            named = [p for p in parts if not _version([p])]
            if model.deprecated or any(w not in model.id.lower().replace(".", "-").split("-") for w in words):
                continue
            if any(p in VARIANT_WORDS and p not in words for p in named) or "latest" in parts:
                continue
            if set(named) - set(words) - {"latest"}:
                continue
            candidates.append((_version(model.id.lower().split("-")), -len(model.id), entry.id, model.id))
    if not candidates:
        return None
    _, _, provider_id, model_id = max(candidates)
    if _lookup(provider_id, model_id) is None:
        return None
    return {"provider": provider_id, "model": model_id, "family": True}
