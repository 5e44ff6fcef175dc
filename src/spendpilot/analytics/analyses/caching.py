"""Prompt caching: long prompt prefixes sent again and again at the full input price."""

from __future__ import annotations

from datetime import date

from ..pricing import model_price
from ..schema import MIN_CACHEABLE_PREFIX_TOKENS, PREFIXES, prefixes_select
from ..scope import WHOLE_ORG, Scope
from ..sql import DAYS, ORG, rollup_source, rollup_where
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, Analysis, by_savings, finding, monthly_note, usd

KIND = "prompt_caching"
MIN_PREFIX_TOKENS = MIN_CACHEABLE_PREFIX_TOKENS  # the rollup keeps only these
MIN_REPEATS = 100
# A prefix whose tokens are already mostly billed as cache reads is being cached.
MAX_CACHED_FRACTION = 0.5
CACHE_TTL_MINUTES = 5


# Repeated long prompt prefixes on interactive per-call traffic. A provider cache entry
# lives about five minutes, so each 5-minute slot with the prefix costs one cache write.
def prefix_repeats(scope: Scope = WHOLE_ORG) -> str:
    return f"""
SELECT provider, model, feature, prompt_prefix_hash,
       toUInt64(sum(row_count)) AS requests,
       toUInt64(max(prefix_tokens)) AS prefix_tokens,
       toUInt64(sum(cached_input_tokens)) AS cached_input_tokens,
       toUInt64(sum(input_tokens)) AS input_tokens,
       toUInt64(uniqExact(slot)) AS cache_slots
FROM {rollup_source(PREFIXES, prefixes_select, scope)}
WHERE {ORG} AND {DAYS.format(col="slot")}{rollup_where(scope)}
GROUP BY provider, model, feature, prompt_prefix_hash
HAVING sum(row_count) >= {{min_repeats:UInt32}} AND max(prefix_tokens) >= {{min_prefix_tokens:UInt32}}
"""


PREFIX_REPEATS = prefix_repeats()


def prefix_saving(r: dict, rates: dict) -> dict | None:
    """Net saving of caching one prefix, from its repeats, cache slots and the model's rates.

    Every 5-minute slot in which the prefix appears pays one cache write; every other call
    in the slot reads it. Tokens already billed as cache reads are not counted again.
    """
    if rates.get("cache_read_mtok") is None:
        return None
    requests, prefix, slots = int(r["requests"]), int(r["prefix_tokens"]), int(r["cache_slots"])
    cacheable = prefix * requests
    if cacheable == 0 or r["cached_input_tokens"] / cacheable >= MAX_CACHED_FRACTION:
        return None
    read_tokens = max(0, (requests - slots) * prefix - int(r["cached_input_tokens"]))
    write_tokens = slots * prefix
    read_saving = read_tokens * (rates["input_mtok"] - rates["cache_read_mtok"]) / 1e6
    write_rate = rates["cache_write_mtok"] if rates.get("cache_write_mtok") is not None else rates["input_mtok"]
    write_premium = write_tokens * (write_rate - rates["input_mtok"]) / 1e6
    return {
        "saving": read_saving - write_premium,
        "read_tokens": read_tokens,
        "write_tokens": write_tokens,
        "write_premium": write_premium,
    }


async def find_prompt_caching(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Repeated long prompt prefixes (prompt_prefix_hash) that are not being cached."""
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    params = {**window.params, **scope.params(), "min_prefix_tokens": MIN_PREFIX_TOKENS, "min_repeats": MIN_REPEATS}
    groups: dict[tuple[str, str, str], dict] = {}
    for r in await store.query(prefix_repeats(scope), params):
        rates = model_price(r["provider"], r["model"])
        result = prefix_saving(r, rates or {})
        if result is None or result["saving"] <= 0:
            continue
        g = groups.setdefault(
            (r["provider"], r["model"], r["feature"]),
            {"prefixes": 0, "requests": 0, "prefix_token_calls": 0, "cache_slots": 0, "read_tokens": 0,
             "write_tokens": 0, "saving": 0.0, "write_premium": 0.0, "rates": rates},
        )
        g["prefixes"] += 1
        g["requests"] += int(r["requests"])
        g["prefix_token_calls"] += int(r["prefix_tokens"]) * int(r["requests"])
        g["cache_slots"] += int(r["cache_slots"])
        g["read_tokens"] += result["read_tokens"]
        g["write_tokens"] += result["write_tokens"]
        g["saving"] += result["saving"]
        g["write_premium"] += result["write_premium"]

    findings = []
    for (provider, model, feature), g in groups.items():
        monthly = window.monthly(g["saving"])
        if monthly < MIN_MONTHLY_SAVINGS_USD:
            continue
        rates = g["rates"]
        avg_prefix = g["prefix_token_calls"] / g["requests"]
        name = feature or "(no feature)"
        findings.append(
            finding(
                id=f"caching:{provider}:{model}:{feature}",
                title=f"Cache the repeated {avg_prefix:,.0f}-token prompt prefix of {name} on {model}",
                kind=KIND,
                monthly_savings_usd=monthly,
                evidence={
                    "provider": provider,
                    "model": model,
                    "feature": feature,
                    "distinct_prefixes": g["prefixes"],
                    "requests": g["requests"],
                    "avg_prefix_tokens": round(avg_prefix, 1),
                    "cache_slots_5min": g["cache_slots"],
                    "cacheable_read_tokens": g["read_tokens"],
                    "cache_write_tokens": g["write_tokens"],
                    "uncached_prefix_cost_usd": money(g["prefix_token_calls"] * rates["input_mtok"] / 1e6),
                    "saving_usd": money(g["saving"]),
                    "rates_per_mtok": {
                        "input": rates["input_mtok"],
                        "cache_read": rates["cache_read_mtok"],
                        "cache_write": rates["cache_write_mtok"],
                    },
                    "period": window.as_period(),
                },
                assumptions=[
                    f"Calls sharing a prompt_prefix_hash send the same leading {avg_prefix:,.0f} tokens "
                    f"(system prompt, instructions, reference text), and a cached prefix lives about "
                    f"{CACHE_TTL_MINUTES} minutes: each 5-minute slot with traffic pays one cache write, "
                    "the other calls in it read the cache.",
                    "Cache reads are billed at the provider's cache-read rate instead of the input rate; "
                    + ("cache writes cost the provider's cache-write premium, subtracted here ("
                       f"{usd(window.monthly(g['write_premium']))}/month)."
                       if rates.get("cache_write_mtok") is not None
                       else "this provider charges no cache-write premium."),
                    "Only interactive per-call rows are counted; rates are the model's base tier.",
                    PRICE_NOTE,
                    monthly_note(window),
                ],
                actions=[
                    f"Put the static part of the {name} prompt first and keep it byte-identical across calls.",
                    "Enable prompt caching for that prefix (Anthropic: cache_control on the system block; "
                    "OpenAI and Gemini cache stable prefixes of 1,024+ tokens automatically).",
                    "Watch cached_input_tokens in the usage data rise to confirm the cache is hit.",
                ],
            )
        )
    return by_savings(findings)


ANALYSIS = Analysis(
    name="prompt_caching",
    run=find_prompt_caching,
    description="Long prompt prefixes repeated across calls without prompt caching.",
    kind="savings",
    intents=("cost_analysis", "caching_audit"),
)
