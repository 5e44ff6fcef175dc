"""genai-prices' tables resolved for import: a model's prices on a given date, for a given service tier.

A model's prices change over time (genai-prices `ConditionalPrice` with a start date, e.g. o3 cut
from $10/$40 to $2/$8 on 2025-06-10) and per request (`price_variants` chosen by a price context:
`{"service_tier": "flex"}`, `{"processing": "batch"}`, `{"speed": "fast"}`). `Resolved.rates(when,
context)` gives the prices in force for one row; rows of one model on dates with the same prices
share one cached `Rates`, so pricing millions of rows costs a few comparisons each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, PriceVariant, Provider, StartDateConstraint, TieredPrices

# USD per million tokens before any tier, and (threshold, USD per million) tiers in ascending order.
Rate = tuple[float | None, tuple[tuple[int, float], ...]]
FAST_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")


def _rate(value: Any) -> Rate:
    if value is None:
        return None, ()
    if isinstance(value, TieredPrices):
        return float(value.base), tuple((int(t.start), float(t.price)) for t in value.tiers)
    return float(value), ()


def _tier_value(value: Any, input_per_call: float) -> Any:
    """A TieredPrices as the one price a call with this many input tokens pays (threshold pricing)."""
    if not isinstance(value, TieredPrices):
        return value
    for tier in reversed(value.tiers):
        if input_per_call > tier.start:
            return tier.price
    return value.base


@dataclass
class Rates:
    """The prices of one model in one pricing regime (a date range and a price context)."""

    price: ModelPrice
    # How much of the price is left after a discount genai-prices does not model (batch before
    # the tables carried batch prices): 1.0 for none.
    factor: float
    rates: dict[str, Rate] = field(init=False)
    tiered: bool = field(init=False)
    # The untiered price of each of FAST_KEYS, in that order (None where the regime has none).
    bases: tuple[float | None, ...] = field(init=False)

    def __post_init__(self) -> None:
        p = self.price
        self.rates = {
            "input": _rate(p.input_mtok),
            "output": _rate(p.output_mtok),
            "cache_read": _rate(p.cache_read_mtok),
            "cache_write": _rate(p.cache_write_mtok),
            "cache_write_1h": _rate(p.cache_write_1h_mtok),
        }
        self.tiered = any(tiers for _, tiers in self.rates.values())
        self.bases = tuple(self.rates[key][0] for key in FAST_KEYS)

    @property
    def known(self) -> bool:
        return self.rates["input"][0] is not None or self.rates["output"][0] is not None

    def at(self, key: str, input_per_call: float) -> float | None:
        base, tiers = self.rates[key]
        for start, price in reversed(tiers):
            if input_per_call > start:
                return price
        return base

    def flat(self, input_per_call: float) -> ModelPrice:
        """This regime's ModelPrice with every tier resolved for calls of this size.

        genai-prices applies a tier to the whole usage it is given; an aggregated row holds many
        calls, so the tier is chosen per call here and the library prices the flat rates.
        """
        values = {k: _tier_value(v, input_per_call) for k, v in self.price.__dict__.items() if v is not None}
        return ModelPrice(**values)

    def total(self, usage: Mapping[str, int], input_per_call: float) -> float:
        """Every priced unit of `usage` (genai-prices Usage keys) through the library's own decomposition."""
        from genai_prices import Usage

        cost = self.flat(input_per_call).calc_price(Usage(**{k: v for k, v in usage.items() if v}))
        return float(cost["total_price"]) * self.factor


@dataclass
class Resolved:
    """A (provider, model) found in the tables, with its price schedule."""

    provider: Provider
    info: ModelInfo
    # Whether the model is the provider's own (genai-prices applies price variants only then).
    own: bool
    batch_discount: float
    _cache: dict[tuple, Rates] = field(default_factory=dict)

    @property
    def provider_id(self) -> str:
        return self.provider.id

    @property
    def model_id(self) -> str:
        return self.info.id

    def _standard(self, when: datetime) -> tuple[int, ModelPrice]:
        prices = self.info.prices
        if isinstance(prices, ModelPrice):
            return 0, prices
        # The last active conditional price wins; none active means the first (genai-prices' rule).
        for index in range(len(prices) - 1, -1, -1):
            constraint = prices[index].constraint
            if constraint is None or constraint.active(when):
                return index, prices[index].prices
        return 0, prices[0].prices

    def _variants(self, when: datetime, context: Mapping[str, str]) -> tuple[int, ...]:
        """Indexes of the price variants that apply to a row with this context on this date.

        A variant whose prices the tables only record from a later date still applies when it
        is the only one for the stated tier: the tables date a variant from when it entered
        them, while the tier itself was billed that way before (OpenAI flex and priority were
        already priced so in 2025). Rows keep their tier, so they can be repriced.
        """
        if not context or not self.own:
            return ()
        matching = [(i, v) for i, v in enumerate(self.info.price_variants or ())
                    if all(context.get(key) == value for key, value in v.when.items())]
        active = tuple(i for i, v in matching if v.constraint is None or v.constraint.active(when))
        if any(_has_prices(self.info.price_variants[i]) for i in active):  # type: ignore[index]
            return active
        dated = [(v.constraint.start_date, i) for i, v in matching
                 if isinstance(v.constraint, StartDateConstraint) and _has_prices(v)]
        return (min(dated)[1],) if dated else active

    def rates(self, when: datetime | None = None, context: Mapping[str, str] | None = None) -> Rates:
        when = when or datetime.now(tz=UTC)
        context = context or {}
        standard_index, standard = self._standard(when)
        variants = self._variants(when, context)
        batch = context.get("processing") == "batch"
        fallback_batch = batch and not any(
            "processing" in self.info.price_variants[i].when for i in variants  # type: ignore[index]
        )
        key = (standard_index, variants, fallback_batch)
        found = self._cache.get(key)
        if found is None:
            overrides: dict[str, Decimal | TieredPrices] = {}
            for i in variants:
                for name, price in self.info.price_variants[i].prices.__dict__.items():  # type: ignore[index]
                    if price is not None:
                        overrides.setdefault(name, price)
            price = ModelPrice(**{**standard.__dict__, **overrides})
            found = self._cache[key] = Rates(price, 1 - self.batch_discount if fallback_batch else 1.0)
        return found

    def change_dates(self) -> list[date]:
        """Dates on which this model's prices change (for splitting a batch of rows by regime)."""
        found: set[date] = set()
        if isinstance(self.info.prices, list):
            found |= {c.constraint.start_date for c in self.info.prices
                      if isinstance(c.constraint, StartDateConstraint)}
        for variant in self.info.price_variants or ():
            if isinstance(variant.constraint, StartDateConstraint):
                found.add(variant.constraint.start_date)
        return sorted(found)

    @property
    def varies_by_time_of_day(self) -> bool:
        constraints = [c.constraint for c in self.info.prices] if isinstance(self.info.prices, list) else []
        constraints += [v.constraint for v in self.info.price_variants or ()]
        return any(c is not None and not isinstance(c, StartDateConstraint) for c in constraints)


def _has_prices(variant: PriceVariant) -> bool:
    return any(v is not None for v in variant.prices.__dict__.values())


def resolve(provider_id: str | None, model_ref: str, batch_discount: Mapping[str, float]) -> Resolved | None:
    """The tables' entry for a model (tried under `provider_id`, then under any provider), or None."""
    snapshot = data_snapshot.get_snapshot()
    for candidate in ([provider_id] if provider_id else []) + [None]:
        try:
            provider, info = snapshot.find_provider_model(model_ref, None, candidate, None)
        except LookupError:
            continue
        own = any(info is m for m in provider.models)
        return Resolved(provider, info, own, batch_discount.get(provider.id, 0.0))
    return None
