"""Prices of LLM calls from genai-prices' bundled tables (offline; never auto-updated)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import Usage, calc_price
from genai_prices.types import TieredPrices

# Providers whose batch APIs bill at half the interactive price.
BATCH_DISCOUNT = {"openai": 0.5, "anthropic": 0.5, "google": 0.5}

# Names seen in exports and OpenTelemetry mapped to genai-prices provider ids.
PROVIDER_ALIASES = {
    "gemini": "google",
    "google_genai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gcp.vertex_ai": "google",
    "vertexai": "google",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure_openai": "azure",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}


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
    return ""


def _rate(value: Any) -> tuple[float | None, tuple[tuple[int, float], ...]]:
    """(base USD per MTok, ((threshold, USD per MTok), ...)) from a genai-prices price."""
    if value is None:
        return None, ()
    if isinstance(value, TieredPrices):
        return float(value.base), tuple((int(t.start), float(t.price)) for t in value.tiers)
    return float(value), ()


@lru_cache(maxsize=4096)
def _lookup(provider: str, model: str) -> dict | None:
    """Resolve (provider, model) against the tables once; None when unknown."""
    if not model:
        return None
    probe = Usage(input_tokens=1, output_tokens=1)
    when = datetime.now(tz=UTC)
    calc = None
    for provider_id in ([provider] if provider else []) + [None]:
        try:
            calc = calc_price(probe, model, provider_id=provider_id, genai_request_timestamp=when)
            break
        except LookupError:
            continue
    if calc is None:
        return None
    mp = calc.model_price
    rates = {}
    for key, attr in (
        ("input", "input_mtok"),
        ("output", "output_mtok"),
        ("cache_read", "cache_read_mtok"),
        ("cache_write", "cache_write_mtok"),
    ):
        rates[key] = _rate(getattr(mp, attr, None))
    if rates["input"][0] is None and rates["output"][0] is None:
        return None
    return {"provider": calc.provider.id, "model": calc.model.id, "rates": rates}


def model_price(provider: str, model: str) -> dict | None:
    """Per-million-token USD rates of a model, or None when the tables do not know it.

    ``{"provider", "model", "input_mtok", "output_mtok", "cache_read_mtok",
    "cache_write_mtok", "batch_discount", "tiered"}``; cache rates are None when the
    provider publishes none. Base (lowest-tier) rates are shown.
    """
    found = _lookup(canonical_provider(provider, model), model)
    if found is None:
        return None
    r = found["rates"]
    return {
        "provider": found["provider"],
        "model": found["model"],
        "input_mtok": r["input"][0] or 0.0,
        "output_mtok": r["output"][0] or 0.0,
        "cache_read_mtok": r["cache_read"][0],
        "cache_write_mtok": r["cache_write"][0],
        "batch_discount": BATCH_DISCOUNT.get(found["provider"], 0.0),
        "tiered": any(tiers for _, tiers in r.values()),
    }


def _at(rate: tuple[float | None, tuple[tuple[int, float], ...]], input_per_call: float) -> float | None:
    # Threshold pricing: crossing a tier prices every token of the call at the tier rate.
    base, tiers = rate
    for start, price in reversed(tiers):
        if input_per_call > start:
            return price
    return base


@lru_cache(maxsize=4096)
def _pricer(provider: str, model: str):
    found = _lookup(provider, model)
    if found is None:
        return None
    r = found["rates"]
    discount = BATCH_DISCOUNT.get(found["provider"], 0.0)
    if not any(tiers for _, tiers in r.values()):
        inp = r["input"][0] or 0.0
        out = r["output"][0] or 0.0
        cread = r["cache_read"][0] if r["cache_read"][0] is not None else inp
        cwrite = r["cache_write"][0] if r["cache_write"][0] is not None else inp

        # Flat rates: a few multiplications, because import prices every row.
        def flat(i: int, o: int, c: int, w: int, batch: bool, calls: int) -> float:
            usd = ((i - c - w) * inp + c * cread + w * cwrite + o * out) / 1_000_000
            return usd * (1 - discount) if batch else usd

        return flat

    def tiered(i: int, o: int, c: int, w: int, batch: bool, calls: int) -> float:
        # Unknown call count (aggregated exports): assume calls stay below every tier.
        per_call = i / calls if calls > 0 else 0
        inp = _at(r["input"], per_call) or 0.0
        out = _at(r["output"], per_call) or 0.0
        cread = _at(r["cache_read"], per_call)
        cwrite = _at(r["cache_write"], per_call)
        cread = inp if cread is None else cread
        cwrite = inp if cwrite is None else cwrite
        usd = ((i - c - w) * inp + c * cread + w * cwrite + o * out) / 1_000_000
        return usd * (1 - discount) if batch else usd

    return tiered


def pricer(provider: str, model: str):
    """The fast per-call price function of a model, or None when it is unknown.

    ``fn(input_tokens, output_tokens, cached, cache_written, is_batch, requests) -> USD``;
    for hot loops that price many calls of one model.
    """
    return _pricer(canonical_provider(provider, model), model)


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
) -> float | None:
    """USD cost of usage, or None when the model is unknown to the price tables.

    ``input_tokens`` counts every input token, including ``cached_input_tokens`` (billed
    at the cache-read rate) and ``cache_write_tokens`` (billed at the cache-write rate).
    Batch calls get the provider's batch discount. ``requests`` is how many calls the
    numbers add up (aggregated exports), so tiers are chosen per call.
    """
    fn = _pricer(canonical_provider(provider, model), model)
    if fn is None:
        return None
    cached = min(max(cached_input_tokens, 0), input_tokens)
    written = min(max(cache_write_tokens, 0), input_tokens - cached)
    return fn(input_tokens, output_tokens, cached, written, bool(is_batch), requests)


def exact_price(
    provider: str, model: str, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> Decimal | None:
    """genai-prices' own calculation for one call (slow; for checks, not per-row import)."""
    try:
        calc = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached_input_tokens),
            model,
            provider_id=canonical_provider(provider, model) or None,
        )
    except LookupError:
        return None
    return calc.total_price


def vector_price(provider: str, model: str, input_tokens, output_tokens, cached_input_tokens, is_batch, requests):
    """price_usage over numpy arrays of many calls of one model; None when it is unknown."""
    import numpy as np

    found = _lookup(canonical_provider(provider, model), model)
    if found is None:
        return None
    r = found["rates"]
    discount = BATCH_DISCOUNT.get(found["provider"], 0.0)
    per_call = np.where(requests > 0, input_tokens / np.maximum(requests, 1), 0)

    def rate(key: str, fallback):
        base, tiers = r[key]
        if base is None:
            return fallback
        out = np.full(len(input_tokens), base)
        for start, price in tiers:  # ascending: the highest crossed tier wins
            out = np.where(per_call > start, price, out)
        return out

    inp = rate("input", np.zeros(len(input_tokens)))
    out = rate("output", np.zeros(len(input_tokens)))
    cread = rate("cache_read", inp)
    cached = np.minimum(cached_input_tokens, input_tokens)
    # Same operation order as the per-call pricer, so both paths give identical floats.
    usd = ((input_tokens - cached) * inp + cached * cread + 0.0 + output_tokens * out) / 1_000_000
    return np.where(is_batch.astype(bool), usd * (1 - discount), usd)


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
        return {"provider": exact["provider"], "model": exact["model"], "family": False}
    family = _newest_of_family(words)
    if family is not None:
        return family
    if exact is not None:
        return {"provider": exact["provider"], "model": exact["model"], "family": False}
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
