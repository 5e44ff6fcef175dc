"""Oversized outputs: max_tokens far above real answers, and the runaway tail it lets through."""

from __future__ import annotations

from datetime import date

from .. import sql
from ..pricing import model_price
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, by_savings, finding, monthly_note

KIND = "oversized_outputs"
MIN_REQUESTS = 200
# max_tokens at least this many times the 95th-percentile output is set "far above".
MIN_HEADROOM = 4.0
# A cap of twice the p95 output (never below MIN_CAP) leaves normal answers untouched.
MIN_CAP = 256


async def find_oversized_outputs(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None
) -> list[dict]:
    """Features whose max_tokens dwarfs their outputs and whose runaway outputs a cap would cut.

    A high max_tokens costs nothing by itself; only the output tokens generated beyond a
    sensible cap are claimed as savings.
    """
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    findings = []
    for r in await store.query(sql.OUTPUT_TAIL, {**window.params, "min_cap": MIN_CAP}):
        requests = int(r["requests"])
        p95 = int(r["p95_output"])
        if requests < MIN_REQUESTS or r["avg_max_tokens"] < MIN_HEADROOM * max(p95, 1):
            continue
        rates = model_price(r["provider"], r["model"])
        if not rates:
            continue
        out_rate = rates["output_mtok"]
        saving_window = (
            int(r["excess_tokens"]) * out_rate + int(r["batch_excess_tokens"]) * out_rate * (1 - rates["batch_discount"])
        ) / 1e6
        saving = window.monthly(saving_window)
        if saving < MIN_MONTHLY_SAVINGS_USD:
            continue
        cap = int(r["cap"])
        feature = r["feature"] or "(no feature)"
        findings.append(
            finding(
                id=f"outputs:{r['provider']}:{r['model']}:{r['feature']}",
                title=f"Cap max_tokens of {feature} on {r['model']} at {cap}",
                kind=KIND,
                monthly_savings_usd=saving,
                evidence={
                    "provider": r["provider"],
                    "model": r["model"],
                    "feature": r["feature"],
                    "requests": requests,
                    "avg_max_tokens": round(float(r["avg_max_tokens"]), 1),
                    "p50_output_tokens": int(r["p50_output"]),
                    "p95_output_tokens": p95,
                    "max_output_tokens": int(r["max_output"]),
                    "suggested_max_tokens": cap,
                    "requests_over_cap": int(r["over_cap_requests"]),
                    "output_tokens_over_cap": int(r["excess_tokens"]) + int(r["batch_excess_tokens"]),
                    "output_rate_per_mtok": out_rate,
                    "saving_usd": money(saving_window),
                    "period": window.as_period(),
                },
                assumptions=[
                    f"95% of {feature}'s answers are at most {p95} tokens while max_tokens averages "
                    f"{float(r['avg_max_tokens']):,.0f}; a cap of {cap} (twice p95, at least {MIN_CAP}) leaves "
                    "normal answers untouched.",
                    f"Only the output tokens generated beyond {cap} by the {int(r['over_cap_requests'])} runaway "
                    "calls are claimed, at the model's output rate; assumes those tokens were not needed "
                    "(check a sample of the long answers first).",
                    "max_tokens alone does not change the bill: calls that stay under the cap cost the same.",
                    PRICE_NOTE,
                    monthly_note(window),
                ],
                actions=[
                    f"Set max_tokens={cap} for {feature} and ask for the answer format explicitly (e.g. JSON "
                    "with a fixed list length).",
                    "Log and review calls that hit the cap (finish_reason = length) for a week.",
                ],
            )
        )
    return by_savings(findings)
