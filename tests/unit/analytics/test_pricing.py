"""Pricing from genai-prices: per-call prices agree with the library's own calculation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from genai_prices import Usage, calc_price

from spendpilot.analytics import pricing
from spendpilot.analytics.pricing import model_price, price_usage, vector_price

CASES = [
    ("openai", "gpt-4o", 1200, 300, 400),
    ("openai", "gpt-4o-mini-2024-07-18", 5000, 10, 0),
    ("anthropic", "claude-sonnet-4-5", 2500, 1000, 1000),
    ("anthropic", "claude-sonnet-4-5", 250_000, 1000, 0),  # above the 200k tier
    ("google", "gemini-2.5-pro", 300_000, 500, 0),
    ("google", "gemini-2.5-flash", 3000, 500, 100),
    ("anthropic", "claude-opus-4-1", 7000, 900, 1200),
]


@pytest.mark.parametrize("provider, model, inp, out, cached", CASES)
def test_price_matches_genai_prices(provider, model, inp, out, cached):
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    expected = float(calc_price(usage, model, provider_id=provider).total_price)
    assert price_usage(provider, model, inp, out, cached) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("provider, model, inp, out, cached", CASES)
def test_batch_calls_get_the_batch_price(provider, model, inp, out, cached):
    """Batch rows are priced with the tables' batch prices where they carry them (genai-prices
    `price_context={"processing": "batch"}`, in force from 2026-10-14), and at half the
    interactive price where they do not (claude-opus-4-1). A row dated before the tables carried
    the batch prices gets them too (these models' prices did not change since). This replaces a
    test that asserted exactly half everywhere: OpenAI's batch price leaves cache reads at the
    interactive rate, so half was wrong for gpt-4o."""
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    listed = calc_price(usage, model, provider_id=provider, price_context={"processing": "batch"}).total_price
    interactive = calc_price(usage, model, provider_id=provider).total_price
    batch = price_usage(provider, model, inp, out, cached, is_batch=True)
    expected = float(listed) if listed != interactive else float(interactive) / 2
    assert batch == pytest.approx(expected, rel=1e-12)
    before = datetime(2025, 3, 1, tzinfo=UTC)
    assert price_usage(provider, model, inp, out, cached, is_batch=True, when=before) == pytest.approx(
        batch, rel=1e-12)


def test_vector_price_equals_per_call_price_exactly():
    inp = np.array([c[2] for c in CASES[2:4]])
    out = np.array([c[3] for c in CASES[2:4]])
    cached = np.array([c[4] for c in CASES[2:4]])
    batch = np.array([0, 1])
    got = vector_price("anthropic", "claude-sonnet-4-5", inp, out, cached, batch, np.array([1, 1]))
    want = [
        price_usage("anthropic", "claude-sonnet-4-5", int(i), int(o), int(c), bool(b))
        for i, o, c, b in zip(inp, out, cached, batch, strict=True)
    ]
    assert got.tolist() == want


def test_unknown_models_have_no_price():
    assert price_usage("openai", "gpt-nonexistent-9", 10, 10) is None
    assert model_price("acme", "acme-llm-7") is None
    one, zero = np.array([1]), np.array([0])
    assert vector_price("acme", "acme-llm-7", one, one, zero, zero, one) is None


def test_model_price_rates_and_aliases():
    rates = model_price("gemini", "gemini-2.5-flash")  # provider alias
    assert rates["provider"] == "google" and rates["model"] == "gemini-2.5-flash"
    assert rates["input_mtok"] == pytest.approx(
        float(calc_price(Usage(input_tokens=1_000_000), "gemini-2.5-flash", provider_id="google").total_price)
    )
    assert rates["batch_discount"] == 0.5
    haiku = model_price("anthropic", "claude-haiku-4-5")
    assert haiku["cache_write_mtok"] > haiku["input_mtok"] > haiku["cache_read_mtok"]
    # Provider guessed from the model name when the row has none.
    assert model_price("", "claude-haiku-4-5")["provider"] == "anthropic"


def test_lookups_are_memoised():
    pricing._lookup.cache_clear()
    for _ in range(3):
        price_usage("openai", "gpt-4o", 10, 10)
        model_price("openai", "gpt-4o")
    info = pricing._lookup.cache_info()
    assert info.misses == 1 and info.hits >= 1
