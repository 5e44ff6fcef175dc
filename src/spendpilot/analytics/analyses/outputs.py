"""Oversized outputs: max_tokens far above real answers, and the runaway tail it lets through."""

from __future__ import annotations

from datetime import date

from ..histogram import as_counts, excess_over, quantile
from ..pricing import model_price
from ..schema import OUTPUTS, outputs_select
from ..scope import WHOLE_ORG, Scope
from ..sql import DAYS, ORG, rollup_source, rollup_where
from ..store import AnalyticsStore
from ..window import money, resolve_window
from .common import MIN_MONTHLY_SAVINGS_USD, PRICE_NOTE, Analysis, by_savings, feature_finding, monthly_note

KIND = "oversized_outputs"
MIN_REQUESTS = 200
# max_tokens at least this many times the 95th-percentile output is set "far above".
MIN_HEADROOM = 4.0
# A cap of twice the p95 output (never below MIN_CAP) leaves normal answers untouched.
MIN_CAP = 256


# Output-length histograms against the max_tokens ceiling of per-call rows; the runaway
# tail beyond a cap is computed from them exactly.
def output_histograms(scope: Scope = WHOLE_ORG) -> str:
    return f"""
SELECT provider, model, feature,
       toUInt64(sum(row_count)) AS requests,
       toUInt64(sum(max_tokens_sum)) AS max_tokens_sum,
       sumMap(output_hist) AS output_hist,
       sumMapIf(output_hist, is_batch = 1) AS batch_output_hist
FROM {rollup_source(OUTPUTS, outputs_select, scope)}
WHERE {ORG} AND {DAYS.format(col="day")}{rollup_where(scope)}
GROUP BY provider, model, feature
"""


OUTPUT_HISTOGRAMS = output_histograms()


async def find_oversized_outputs(
    store: AnalyticsStore, org_id: str, start: date | None = None, end: date | None = None,
    scope: Scope = WHOLE_ORG,
) -> list[dict]:
    """Features whose max_tokens dwarfs their outputs and whose runaway outputs a cap would cut.

    A high max_tokens costs nothing by itself; only the output tokens generated beyond a
    sensible cap are claimed as savings.
    """
    window = await resolve_window(store, org_id, start, end)
    if not window.days:
        return []
    findings = []
    for r in await store.query(output_histograms(scope), {**window.params, **scope.params()}):
        requests = int(r["requests"])
        outputs = as_counts(r["output_hist"])
        p95 = quantile(outputs, 0.95) or 0
        avg_max_tokens = int(r["max_tokens_sum"]) / requests if requests else 0.0
        if requests < MIN_REQUESTS or avg_max_tokens < MIN_HEADROOM * max(p95, 1):
            continue
        rates = model_price(r["provider"], r["model"])
        if not rates:
            continue
        cap = max(MIN_CAP, 2 * p95)
        over_cap, excess_all = excess_over(outputs, cap)
        _, excess_batch = excess_over(as_counts(r["batch_output_hist"]), cap)
        out_rate = rates["output_mtok"]
        saving_window = (
            (excess_all - excess_batch) * out_rate + excess_batch * out_rate * (1 - rates["batch_discount"])
        ) / 1e6
        saving = window.monthly(saving_window)
        if saving < MIN_MONTHLY_SAVINGS_USD:
            continue
        feature = r["feature"] or "(no feature)"
        findings.append(
            feature_finding(
                "outputs", r,
                title=f"Cap max_tokens of {feature} on {r['model']} at {cap}",
                kind=KIND,
                monthly_savings_usd=saving,
                evidence={
                    "requests": requests,
                    "avg_max_tokens": round(avg_max_tokens, 1),
                    "p50_output_tokens": quantile(outputs, 0.5),
                    "p95_output_tokens": p95,
                    "max_output_tokens": max(outputs)[0],
                    "suggested_max_tokens": cap,
                    "requests_over_cap": over_cap,
                    "output_tokens_over_cap": excess_all,
                    "output_rate_per_mtok": out_rate,
                    "saving_usd": money(saving_window),
                    "period": window.as_period(),
                },
                assumptions=[
                    f"95% of {feature}'s answers are at most {p95} tokens while max_tokens averages "
                    f"{avg_max_tokens:,.0f}; a cap of {cap} (twice p95, at least {MIN_CAP}) leaves "
                    "normal answers untouched.",
                    f"Only the output tokens generated beyond {cap} by the {over_cap} runaway "
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


ANALYSIS = Analysis(
    name="oversized_outputs",
    run=find_oversized_outputs,
    description="max_tokens far above real outputs, and the runaway output tokens a tighter cap would cut.",
    kind="savings",
    intents=("cost_analysis",),
)
