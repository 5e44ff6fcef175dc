"""Each intent's own block in the report, and how it reads in the offline answer.

`add_intent_blocks` puts the intent's tool results in the report (SPEC §13): `comparison` (a model switch,
or two periods with their movers), `breakdown`, `finding`, and the what-if blocks `forecast`, `capacity`
and `budgets`. Every figure it derives (a share) is registered in the run's facts where it is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spendpilot.agents.detail import pick
from spendpilot.agents.grounding import Facts, Kind

if TYPE_CHECKING:
    from spendpilot.agents.plan import Plan

GENERAL_MAX_CHARS = 800
TOP_MOVERS = 3


def add_intent_blocks(report: dict, plan: Plan, facts: Facts) -> None:
    results = plan.results
    if "forecast_spend" in results:
        report["forecast"] = {k: v for k, v in results["forecast_spend"].items() if k != "daily"}
    if "budget_status" in results:
        report["budgets"] = results["budget_status"]
    if "plan_capacity" in results:
        report["capacity"] = results["plan_capacity"]
        if report["capacity"]["projected_usd"] is None:
            report["caveats"].extend(report["capacity"]["assumptions"])
    if "compare_models" in results:
        comparison = dict(results["compare_models"])
        # Its caveats join the report's, the quality one first.
        report["caveats"][:0] = comparison.pop("caveats")
        report["comparison"] = comparison
    if "compare_periods" in results:
        report["comparison"] = results["compare_periods"]
    if plan.intent == "breakdown" and "usage_summary" in results:
        report["breakdown"] = _breakdown(results["usage_summary"], plan.dimension or "feature", facts)
    if plan.intent == "finding_detail" and plan.finding is not None:
        report["finding"] = pick(report["recommendations"], plan.finding)


def _breakdown(summary: dict, dimension: str, facts: Facts) -> dict:
    total = float(summary["total_usd"] or 0.0)
    groups = []
    for group in summary["groups"]:
        share = round(group["cost_usd"] / total, 4) if total > 0 else 0.0
        facts.add(Kind.PERCENT, share * 100)
        groups.append({"key": group["key"], "cost_usd": group["cost_usd"], "requests": group["requests"],
                       "share": share})
    block = {"dimension": dimension, "from": summary["from"], "to": summary["to"], "total_usd": summary["total_usd"],
             "groups": groups}
    if summary.get("truncated"):
        block["truncated"] = True
    return block


# --- markdown ----------------------------------------------------------------------------------------------------


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _signed_usd(value: float) -> str:
    return ("+" if value > 0 else "-" if value < 0 else "") + _usd(abs(value))


def _signed_pct(value: float | None) -> str:
    return "new" if value is None else f"{value:+.2f}%"


def _cell(text: object) -> str:
    """A value from the data as one table cell: no pipe or line break can reshape the table."""
    return " ".join(str(text).split()).replace("|", "\\|")[:80]


def dimension_label(dimension: str) -> str:
    return dimension.removeprefix("tag:").replace("_", " ")


def intent_sections(report: dict) -> list[str]:
    """The markdown of the report's intent blocks, in the order the answer shows them."""
    sections = []
    if comparison := report.get("comparison"):
        if comparison.get("kind") == "periods":
            sections.append(periods_section(comparison))
    if breakdown := report.get("breakdown"):
        sections.append(breakdown_section(breakdown))
    if "finding" in report:
        sections.append(finding_section(report["finding"]))
    return sections


def periods_section(c: dict) -> str:
    current, previous = c["current"], c["previous"]
    direction = "up" if c["change_usd"] > 0 else "down" if c["change_usd"] < 0 else "unchanged"
    change = f"{direction} **{_usd(abs(c['change_usd']))}**"
    if c["change_pct"] is not None:
        change += f" ({c['change_pct']:+.2f}%)"
    lines = [f"### {current['from']} to {current['to']} against {previous['from']} to {previous['to']}",
             f"Spend was **{_usd(current['total_usd'])}**, against **{_usd(previous['total_usd'])}** the period "
             f"before: {change}."]
    movers = c["movers"]
    if movers:
        named = "; ".join(f"{m['dimension']} {m['key']} {_signed_usd(m['change_usd'])} ({_signed_pct(m['change_pct'])})"
                          for m in movers[:TOP_MOVERS])
        lines.append(f"The biggest movers: {named}.")
        rows = "\n".join(f"| {m['dimension']} | {_cell(m['key'])} | {_usd(m['previous_usd'])} | "
                         f"{_usd(m['current_usd'])} | {_signed_usd(m['change_usd'])} | {_signed_pct(m['change_pct'])} |"
                         for m in movers)
        lines.append("| dimension | key | before | now | change | change % |\n|---|---|---:|---:|---:|---:|\n" + rows)
    else:
        lines.append("No feature, model, provider or user moved: spend was the same in both periods.")
    return "\n\n".join(lines)


def breakdown_section(b: dict) -> str:
    name = dimension_label(b["dimension"])
    if not b["groups"]:
        return f"### Spend by {name}\n\nThere is no spend in this period and scope to break down."
    missing = "(none)" if not b["dimension"].startswith("tag:") else f"(no {name} tag)"
    rows = "\n".join(f"| {_cell(g['key']) or missing} | {_usd(g['cost_usd'])} | {g['share'] * 100:.1f}% | "
                     f"{g['requests']:,} |" for g in b["groups"][:15])
    top = b["groups"][0]
    text = (f"### Spend by {name}\n\n{_cell(top['key']) or missing} spent the most: **{_usd(top['cost_usd'])}**, "
            f"{top['share'] * 100:.1f}% of **{_usd(b['total_usd'])}**.")
    table = f"| {name} | cost | share | requests |\n|---|---:|---:|---:|\n{rows}"
    if len(b["groups"]) > 15 or b.get("truncated"):
        table += f"\n\nThe biggest 15 are shown; the report lists {len(b['groups'])}."
    return f"{text}\n\n{table}"


def finding_section(f: dict | None) -> str:
    if f is None:
        return ("### The finding asked about\n\nThis analysis finds nothing of that kind in this period and scope: "
                "its thresholds were not crossed.")
    evidence = "\n".join(f"- {k.replace('_', ' ')}: {_evidence_value(k, v)}" for k, v in f["evidence"].items()
                         if not isinstance(v, (dict, list)))
    parts = [f"### {f['title']}",
             f"Saves about **{_usd(f['monthly_savings_usd'])} a month** ({f['kind'].replace('_', ' ')}).",
             "**Evidence**\n\n" + evidence,
             "**Assumptions**\n\n" + "\n".join(f"- {a}" for a in f["assumptions"]),
             "**What to do**\n\n" + "\n".join(f"{i}. {a}" for i, a in enumerate(f["actions"], 1))]
    return "\n\n".join(parts)


def _evidence_value(key: str, value: object) -> str:
    if isinstance(value, float) and key.endswith("_usd"):
        return _usd(value)
    if isinstance(value, float) and (key.endswith(("_share", "_rate")) or key == "share"):
        return f"{value * 100:.1f}%"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _cell(value)


def render_general(report: dict) -> str:
    """The answer to a question Spendpilot cannot answer from usage: what it can answer, at most 800 characters."""
    text = ("That is outside what Spendpilot can answer: it answers questions about your organisation's LLM usage "
            "and what it costs, from the usage you have imported or sent it.\n\n"
            "You can ask, for example:\n"
            "- Where can we save? (a cost review with ranked savings)\n"
            "- Where does the money go by team, feature, model or user?\n"
            "- Why did spend change last week compared to the week before?\n"
            "- Should we switch from gpt-4o to claude sonnet?\n"
            "- What will we spend next month if traffic doubles?\n"
            "- Tell me more about the caching recommendation.")
    return text[:GENERAL_MAX_CHARS]


__all__ = ["add_intent_blocks", "dimension_label", "intent_sections", "render_general"]
