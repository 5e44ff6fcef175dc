"""Model right-sizing: premium models doing short, simple work a smaller sibling can do."""

from __future__ import annotations

import re
from datetime import date

from ..grouped import GroupedRead
from ..pricing import model_price, price_usage
from ..scope import WHOLE_ORG, Scope
from ..sql import COST, window_read
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, Analysis, by_savings, feature_finding, monthly_note, usd

KIND = "model_rightsizing"
MAX_AVG_INPUT_TOKENS = 1000
MAX_AVG_OUTPUT_TOKENS = 300
MIN_REQUESTS = 100

# (pattern on the model name, cheaper model of the same family). First match wins.
CHEAPER: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(chatgpt-)?gpt-4o(-\d{4}-\d{2}-\d{2}|-latest)?$"), "gpt-4o-mini"),
    (re.compile(r"^gpt-4\.1(-\d{4}-\d{2}-\d{2})?$"), "gpt-4.1-mini"),
    (re.compile(r"^gpt-4(-turbo)?(-\d{4}-\d{2}-\d{2}|-\d{4}|-preview)?$"), "gpt-4o-mini"),
    (re.compile(r"^gpt-5(\.\d)?(-\d{4}-\d{2}-\d{2})?$"), "gpt-5-mini"),
    (re.compile(r"^o[13](-\d{4}-\d{2}-\d{2})?$"), "o4-mini"),
    (re.compile(r"^claude-(opus|sonnet)-4"), "claude-haiku-4-5"),
    (re.compile(r"^claude-3-(5-|7-)?(opus|sonnet)"), "claude-3-5-haiku"),
    (re.compile(r"^gemini-(\d(?:\.\d)?)-pro"), r"gemini-\1-flash"),
]


# Per provider/model/feature token mix of rows with a known call count, split by batch so
# an alternative model prices each part at the right rate.
MIX = GroupedRead(
    (("provider", "provider"), ("model", "model"), ("feature", "feature")),
    (("requests", "toUInt64(sum(requests))"),
     ("input_tokens", "toUInt64(sum(input_tokens))"),
     ("output_tokens", "toUInt64(sum(output_tokens))"),
     ("cached_input_tokens", "toUInt64(sum(cached_input_tokens))"),
     ("batch_requests", "toUInt64(sumIf(requests, is_batch = 1))"),
     ("batch_input_tokens", "toUInt64(sumIf(input_tokens, is_batch = 1))"),
     ("batch_output_tokens", "toUInt64(sumIf(output_tokens, is_batch = 1))"),
     ("batch_cached_input_tokens", "toUInt64(sumIf(cached_input_tokens, is_batch = 1))"),
     ("cost_usd", COST)),
    rows="priced = 1 AND row_kind IN (0, 1)",
)


def model_mix(scope: Scope = WHOLE_ORG) -> str:
    return window_read(MIX, scope)


MODEL_MIX = model_mix()


def cheaper_model(provider: str, model: str) -> str | None:
    """The smaller model of the same family that the price tables know, if any."""
    name = model.lower()
    for pattern, target in CHEAPER:
        match = pattern.match(name)
        if match:
            candidate = match.expand(target)
            if model_price(provider, candidate):
                return candidate
            if candidate.startswith("gemini-") and model_price(provider, "gemini-2.5-flash"):
                return "gemini-2.5-flash"
            return None
    return None


def alternative_cost(provider: str, target: str, r: dict) -> float | None:
    """The same calls and tokens priced at the target model (batch part at batch rates)."""
    batch = price_usage(
        provider, target, r["batch_input_tokens"], r["batch_output_tokens"],
        r["batch_cached_input_tokens"], True, requests=r["batch_requests"],
    )
    interactive = price_usage(
        provider, target,
        r["input_tokens"] - r["batch_input_tokens"],
        r["output_tokens"] - r["batch_output_tokens"],
        r["cached_input_tokens"] - r["batch_cached_input_tokens"],
        False,
        requests=r["requests"] - r["batch_requests"],
    )
    if batch is None or interactive is None:
        return None
    return batch + interactive


async def find_model_rightsizing(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Premium models on short, simple traffic where a cheaper same-family model would do."""
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    findings = []
    for r in await store.query(model_mix(scope), {**window.params, **scope.params()}):
        requests = int(r["requests"])
        if requests < MIN_REQUESTS:
            continue
        avg_in = r["input_tokens"] / requests
        avg_out = r["output_tokens"] / requests
        if avg_in > MAX_AVG_INPUT_TOKENS or avg_out > MAX_AVG_OUTPUT_TOKENS:
            continue
        target = cheaper_model(r["provider"], r["model"])
        if target is None:
            continue
        projected = alternative_cost(r["provider"], target, r)
        if projected is None:
            continue
        saving = window.monthly(r["cost_usd"] - projected)
        if saving < MIN_MONTHLY_SAVINGS_USD:
            continue
        feature = r["feature"] or "(no feature)"
        now_rates = model_price(r["provider"], r["model"]) or {}
        new_rates = model_price(r["provider"], target) or {}
        findings.append(
            feature_finding(
                "rightsize", r,
                title=f"Move {feature} from {r['model']} to {target}",
                kind=KIND,
                monthly_savings_usd=saving,
                evidence={
                    "suggested_model": target,
                    "requests": requests,
                    "avg_input_tokens": round(avg_in, 1),
                    "avg_output_tokens": round(avg_out, 1),
                    "current_cost_usd": money(r["cost_usd"]),
                    "projected_cost_usd": money(projected),
                    "current_monthly_usd": money(window.monthly(r["cost_usd"])),
                    "projected_monthly_usd": money(window.monthly(projected)),
                    "current_rates_per_mtok": {
                        "input": now_rates.get("input_mtok"),
                        "output": now_rates.get("output_mtok"),
                    },
                    "suggested_rates_per_mtok": {
                        "input": new_rates.get("input_mtok"),
                        "output": new_rates.get("output_mtok"),
                    },
                    "period": window.as_period(),
                },
                assumptions=[
                    f"Calls averaging under {MAX_AVG_INPUT_TOKENS:,} input and {MAX_AVG_OUTPUT_TOKENS} output "
                    f"tokens are short, simple work (classification, extraction, short replies) that {target} "
                    "handles at acceptable quality; this must be checked on a sample before switching.",
                    f"The same token counts are priced at {target}'s rates, including its cache-read and batch rates.",
                    PRICE_NOTE,
                    monthly_note(window),
                ],
                actions=[
                    f"Send 10% of {feature} traffic to {target} behind a flag "
                    "and compare answers on a labelled sample.",
                    f"If quality holds, switch {feature} to {target} "
                    f"and keep {r['model']} as a fallback for hard cases.",
                    f"Expected cost: about {usd(window.monthly(projected))}/month instead of "
                    f"{usd(window.monthly(r['cost_usd']))}/month.",
                ],
            )
        )
    return by_savings(findings)


ANALYSIS = Analysis(
    name="model_rightsizing",
    run=find_model_rightsizing,
    description="Premium models on short, simple calls that a cheaper model of the same family can serve.",
    kind="savings",
    intents=("cost_analysis", "model_comparison"),
)
