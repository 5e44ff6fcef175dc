"""Assemble the SPEC §7 report from tool results, and render it as markdown."""

from __future__ import annotations

from datetime import date

from spendpilot.agents.answers import intent_sections
from spendpilot.agents.grounding import Facts, Kind
from spendpilot.analytics.importers import FORMATS
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.window import Period, money

IMPORT_GUIDANCE = [
    "Upload a file on the Usage page or POST it to /api/usage/import (multipart field 'file').",
    "Accepted formats: " + "; ".join(f.label for f in FORMATS) + ".",
    "Generic files may carry these columns: ts, provider, model, feature, user, input_tokens, output_tokens, "
    "cached_input_tokens, latency_ms, status, is_batch, prompt_hash, prompt_prefix_hash, "
    "prompt_prefix_tokens, max_tokens, cost_usd (optional: priced at import).",
    f"From the command line: spendpilot ingest FILE --as YOUR_EMAIL [--format {'|'.join(f.name for f in FORMATS)}].",
    "At least 14 days of traffic gives trustworthy monthly figures.",
]

OVERLAP_CAVEAT = ("Each saving is estimated on its own; where two recommendations touch the same traffic "
                  "(say, right-sizing and caching one feature) doing both saves less than their sum.")


TOP_SPENDERS = 5


def top_spenders(by_user: dict | None) -> list[dict]:
    """The users who spent most, from the usage summary grouped by user (calls without a user left out)."""
    if not by_user:
        return []
    total = float(by_user.get("total_usd") or 0.0)
    named = [g for g in by_user.get("groups", []) if g["key"]]
    return [{"user": g["key"], "cost_usd": g["cost_usd"], "requests": g["requests"],
             "share": round(g["cost_usd"] / total, 4) if total > 0 else 0.0} for g in named[:TOP_SPENDERS]]


def rank_recommendations(findings: list[dict]) -> tuple[list[dict], float]:
    """The findings that save money, in cents, largest first (ties by id), and their total: as every report ranks
    them, and as any other caller (the MCP `find_savings` tool) must, to show the same figures."""
    recommendations = sorted(
        ({**f, "monthly_savings_usd": round(float(f["monthly_savings_usd"]), 2)} for f in findings
         if float(f.get("monthly_savings_usd", 0)) > 0),
        key=lambda r: (-r["monthly_savings_usd"], r["id"]))
    return recommendations, round(sum(r["monthly_savings_usd"] for r in recommendations), 2)


def build_report(*, period: dict, summary: dict, overview: dict | None, sufficiency: str,
                 findings: list[dict], anomalies: list[dict], profile: dict, by_user: dict | None = None,
                 facts: Facts | None = None, scope: dict | None = None) -> dict:
    """The report; each figure computed here (not read from a tool) is registered in `facts` where it is made."""
    facts = facts if facts is not None else Facts()
    recommendations, total_savings = rank_recommendations(findings)
    for rec in recommendations:
        facts.add(Kind.MONEY, rec["monthly_savings_usd"], "USD")
    facts.add(Kind.MONEY, total_savings, "USD")
    facts.add(Kind.COUNT, len(recommendations))
    if overview:
        monthly = overview["monthly_usd"]
    else:
        # Without the overview (a question not about usage) the run-rate is the total normalised to 30 days.
        monthly = money(summary["total_usd"] / period["days"] * 30) if period.get("days") else 0.0
        facts.add(Kind.MONEY, monthly, "USD")
    savings_pct = round(total_savings / monthly * 100, 2) if monthly > 0 else 0.0
    facts.add(Kind.PERCENT, savings_pct)
    # Monthly figures are the period normalised to 30 days (analytics.window.Window.monthly).
    facts.add(Kind.DURATION, 30 * 86400.0)
    facts.add_result(period)
    caveats = []
    if sufficiency != "sufficient":
        caveats.append(f"Data sufficiency is {sufficiency}: {profile.get('rows', 0)} rows over "
                       f"{profile.get('days_covered', 0)} days; figures are indicative.")
    if profile.get("unpriced_models"):
        caveats.append("Models missing from the price tables were imported at $0 and are not in the totals: "
                       + ", ".join(profile["unpriced_models"]) + ".")
    for anomaly in anomalies[:3]:
        caveats.append(f"Spend on {anomaly['day']} was ${anomaly['cost_usd']:.2f}, "
                       f"{anomaly['ratio']:.1f}x the ${anomaly['baseline_usd']:.2f} daily baseline.")
    if len({r["kind"] for r in recommendations}) > 1:
        caveats.append(OVERLAP_CAVEAT)
    if sufficiency == "insufficient":
        caveats.extend(IMPORT_GUIDANCE)
    for caveat in caveats:
        facts.add_text(caveat)
    spenders = top_spenders(by_user)
    for spender in spenders:
        facts.add(Kind.PERCENT, spender["share"] * 100)
    return {
        "period": period,
        "scope": dict(scope or {}),
        "spend": {"total_usd": summary["total_usd"], "monthly_usd": monthly,
                  "requests": summary["total_requests"],
                  "by_model": [{"model": g["key"], "cost_usd": g["cost_usd"], "requests": g["requests"]}
                               for g in summary["groups"]],
                  # Present when the calls name their user: who spent most, biggest first.
                  **({"top_spenders": spenders} if spenders else {})},
        "data_sufficiency": sufficiency,
        "recommendations": recommendations,
        "total_monthly_savings_usd": total_savings,
        "savings_pct": savings_pct,
        "action_plan": [f"{i}. {r['title']} (${r['monthly_savings_usd']:,.2f}/month)"
                        for i, r in enumerate(recommendations, 1)],
        "anomalies": anomalies,
        "trend": overview.get("trend") if overview else None,
        "caveats": caveats,
    }


def period_of(profile: dict, period: Period) -> dict:
    start = period.start.isoformat() if period.start else profile.get("first_day")
    end = period.end.isoformat() if period.end else profile.get("last_day")
    if not start or not end:
        return {"from": None, "to": None, "days": 0}
    days = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
    return {"from": start, "to": end, "days": days}


def _cell(text: str) -> str:
    """A value from the data as one table cell: no pipe or line break can reshape the table."""
    return " ".join(str(text).split()).replace("|", "\\|")[:80]


# Intents whose question is not how to save: their answer leads with what they asked, not with savings.
_NOT_ABOUT_SAVINGS = ("breakdown", "period_comparison")
# ... and those whose answer states its own saving (one finding in depth).
_OWN_SAVINGS = ("finding_detail",)


def render_markdown(report: dict, intent: str) -> str:
    if report["data_sufficiency"] == "insufficient":
        lines = ["## No usage data yet",
                 "Spendpilot needs your LLM usage before it can say where the money goes. "
                 "Nothing below is estimated: there is nothing to estimate from.",
                 "### How to import"]
        lines.append("\n".join(f"- {g}" for g in IMPORT_GUIDANCE))
        return "\n\n".join(lines)
    spend, period = report["spend"], report["period"]
    summary = (f"You spent **${spend['total_usd']:,.2f}** over the period, a run-rate of "
               f"**${spend['monthly_usd']:,.2f} per month**.")
    if intent not in _NOT_ABOUT_SAVINGS + _OWN_SAVINGS:
        summary += (f" The changes below would save about **${report['total_monthly_savings_usd']:,.2f} per month "
                    f"({report['savings_pct']:.1f}%)**.")
    parts = [f"## AI spend {period['from']} to {period['to']} ({period['days']} days)"]
    if scope := report.get("scope"):
        parts.append(f"Scope: {Scope.of(scope).describe()}.")
    parts.append(summary)
    parts.extend(intent_sections(report))
    parts.extend(_whatif_sections(report))
    top = spend["by_model"][:5]
    if top and intent != "breakdown":
        rows = "\n".join(f"| {m['model']} | ${m['cost_usd']:,.2f} | {m['requests']:,} |" for m in top)
        parts.append("### Where it goes\n\n| model | cost | requests |\n|---|---:|---:|\n" + rows)
    spenders = spend.get("top_spenders") or []
    if spenders and intent not in _NOT_ABOUT_SAVINGS:
        rows = "\n".join(f"| {_cell(u['user'])} | ${u['cost_usd']:,.2f} | {u['share'] * 100:.1f}% | {u['requests']:,} |"
                         for u in spenders)
        parts.append("### Top spenders\n\n| user | cost | share | requests |\n|---|---:|---:|---:|\n" + rows)
    if report["recommendations"] and intent != "finding_detail":
        recs = []
        for i, rec in enumerate(report["recommendations"], 1):
            recs.append(f"{i}. **{rec['title']}**: ${rec['monthly_savings_usd']:,.2f}/month")
        parts.append("### Recommendations\n\n" + "\n".join(recs))
    elif intent not in _NOT_ABOUT_SAVINGS and intent != "finding_detail":
        parts.append("### Recommendations\n\nNo waste pattern crossed the thresholds for this period.")
    if report["caveats"]:
        parts.append("### Caveats\n\n" + "\n".join(f"- {c}" for c in report["caveats"]))
    return "\n\n".join(parts)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _whatif_sections(report: dict) -> list[str]:
    sections = []
    if (comparison := report.get("comparison")) and comparison.get("kind") == "model_switch":
        sections.append(_comparison_section(comparison))
    if capacity := report.get("capacity"):
        sections.append(_capacity_section(capacity))
    elif forecast := report.get("forecast"):
        if forecast["forecast_usd"] is not None:
            sections.append(f"### Forecast\n\n{forecast['from']} to {forecast['to']}: "
                            f"**{_usd(forecast['forecast_usd'])}** (95% interval {_usd(forecast['low_usd'])} "
                            f"to {_usd(forecast['high_usd'])}).")
    if budgets := report.get("budgets"):
        rows = "\n".join(f"| {b['name']} | {_usd(b['spent_usd'])} | "
                         f"{_usd(b['forecast_usd']) if b['forecast_usd'] is not None else 'n/a'} | "
                         f"{_usd(b['amount_usd'])} | {b['state'].replace('_', ' ')} |" for b in budgets)
        sections.append("### Budgets this month\n\n| budget | spent | forecast | budget | state |\n"
                        "|---|---:|---:|---:|---|\n" + rows)
    return sections


def _comparison_section(c: dict) -> str:
    period = c["period"]
    direction = "more" if c["change_usd"] > 0 else "less"
    others = {k: v for k, v in c["scope"].items() if k != "model"}
    where = f" for {', '.join(f'{k} {v}' for k, v in others.items())}" if others else ""
    text = (f"### Switching {c['from_model']} to {c['to_model']}\n\n"
            f"From {period['from']} to {period['to']}{where}, {c['from_model']} handled {c['requests']:,} requests "
            f"({c['input_tokens']:,} input, {c['output_tokens']:,} output and {c['cached_input_tokens']:,} cached "
            f"tokens) for **{_usd(c['current_usd'])}**. The same tokens at {c['to_model']}'s list prices come to "
            f"**{_usd(c['projected_usd'])}**: {_usd(abs(c['change_usd']))} {direction}, about "
            f"**{_usd(abs(c['monthly_change_usd']))} a month** {direction}.")
    rows = "\n".join(f"| {model} | {_usd(p['input_per_mtok'])} | {_usd(p['output_per_mtok'])} |"
                     for model, p in c["prices"].items() if p)
    return text + "\n\n| model | input per MTok | output per MTok |\n|---|---:|---:|\n" + rows


def _capacity_section(c: dict) -> str:
    scenario = []
    if c["scenario"]["traffic_multiplier"] != 1:
        scenario.append(f"traffic at {c['scenario']['traffic_multiplier']:g}x")
    if c["scenario"]["added_users"]:
        scenario.append(f"{c['scenario']['added_users']:,} more users")
    title = " and ".join(scenario) or "traffic as it is going"
    if c["projected_usd"] is None:
        return (f"### What if: {title}\n\nThere is not enough usage history for a forecast yet, so there is no "
                "projection: see the caveats.")
    base = c["baseline"]
    lines = [f"### What if: {title}",
             f"At today's traffic, {c['from']} to {c['to']} is forecast at **{_usd(base['forecast_usd'])}** "
             f"(95% interval {_usd(base['low_usd'])} to {_usd(base['high_usd'])}). With {title} it comes to "
             f"**{_usd(c['projected_usd'])}** ({_usd(c['projected_low_usd'])} to {_usd(c['projected_high_usd'])}), "
             f"{_usd(c['change_usd'])} more than the forecast.",
             "\n".join(f"- {a}" for a in c["assumptions"])]
    return "\n\n".join(lines)
