"""Shape and internal consistency of the final report JSON (SPEC §7)."""

from __future__ import annotations

from typing import Any

from spendpilot.agents.intents import INTENTS
from spendpilot.verify.protocol import is_number

SUFFICIENCY = {"sufficient", "partial", "insufficient"}
MONEY_TOLERANCE = 0.01


def report_problems(report: Any) -> list[str]:
    """Everything wrong with a report object; an empty list means it is consistent."""
    if not isinstance(report, dict):
        return ["report is not an object"]
    problems: list[str] = []
    missing = [
        key
        for key in (
            "period",
            "spend",
            "data_sufficiency",
            "recommendations",
            "total_monthly_savings_usd",
            "savings_pct",
            "caveats",
            "scope",
            "intent",
        )
        if key not in report
    ]
    if missing:
        problems.append(f"report lacks {', '.join(missing)}")
    sufficiency = report.get("data_sufficiency")
    if sufficiency not in SUFFICIENCY:
        problems.append(f"data_sufficiency {sufficiency!r} not one of {sorted(SUFFICIENCY)}")
    problems += _period_problems(report.get("period"), sufficiency)
    monthly = _spend_problems(report.get("spend"), report.get("period"), problems)
    recs = report.get("recommendations")
    if not isinstance(recs, list):
        problems.append("recommendations is not a list")
        recs = []
    savings = [_rec_problems(i, rec, problems) for i, rec in enumerate(recs)]
    numeric = [s for s in savings if s is not None]
    if len(numeric) == len(savings) and numeric != sorted(numeric, reverse=True):
        problems.append(f"recommendations not sorted by monthly_savings_usd desc: {numeric}")
    ids = [rec.get("id") for rec in recs if isinstance(rec, dict)]
    if len(set(map(str, ids))) != len(ids):
        problems.append("recommendation ids are not unique")
    total = report.get("total_monthly_savings_usd")
    if not is_number(total):
        problems.append(f"total_monthly_savings_usd {total!r} is not a number")
    elif len(numeric) == len(savings) and abs(total - sum(numeric)) > MONEY_TOLERANCE:
        problems.append(
            f"total_monthly_savings_usd {total} != sum of recommendations {round(sum(numeric), 4)}"
        )
    pct = report.get("savings_pct")
    if not is_number(pct):
        problems.append(f"savings_pct {pct!r} is not a number")
    elif is_number(total) and monthly is not None:
        expected = 100.0 * total / monthly if monthly > 0 else 0.0
        # Allow rounding of the percentage to a whole number.
        if abs(pct - expected) > 0.51:
            problems.append(
                f"savings_pct {pct} inconsistent with total {total} / monthly_usd {monthly} "
                f"(= {expected:.2f}%)"
            )
    if not isinstance(report.get("caveats"), list):
        problems.append("caveats is not a list")
    problems += _scope_problems(report)
    return problems


def _scope_problems(report: dict) -> list[str]:
    """SPEC §7 as amended by §13: the scope always present ({} for the whole org), a known intent."""
    problems = []
    if "scope" in report and not isinstance(report["scope"], dict):
        problems.append(f"scope {report['scope']!r} is not an object")
    intent = report.get("intent")
    if "intent" in report and intent not in {spec.name for spec in INTENTS}:
        problems.append(f"intent {intent!r} is not one of the intents")
    return problems


def _period_problems(period: Any, sufficiency: Any) -> list[str]:
    if not isinstance(period, dict):
        return ["period is not an object"]
    missing = [k for k in ("from", "to", "days") if k not in period]
    if missing:
        return [f"period lacks {', '.join(missing)}"]
    if sufficiency == "insufficient":
        return []
    problems = []
    if not isinstance(period["from"], str) or not isinstance(period["to"], str):
        problems.append("period from/to are not strings")
    if not is_number(period["days"]) or period["days"] <= 0:
        problems.append(f"period days {period['days']!r} is not a positive number")
    return problems


def _spend_problems(spend: Any, period: Any, problems: list[str]) -> float | None:
    """Check spend; return monthly_usd when it is usable."""
    if not isinstance(spend, dict):
        problems.append("spend is not an object")
        return None
    total, monthly = spend.get("total_usd"), spend.get("monthly_usd")
    if not is_number(total) or total < 0:
        problems.append(f"spend.total_usd {total!r} is not a non-negative number")
    if not is_number(monthly) or monthly < 0:
        problems.append(f"spend.monthly_usd {monthly!r} is not a non-negative number")
        monthly = None
    if not isinstance(spend.get("by_model"), list):
        problems.append("spend.by_model is not a list")
    days = period.get("days") if isinstance(period, dict) else None
    if is_number(total) and monthly is not None and is_number(days) and days > 0:
        expected = total * 30.0 / days
        # Two percent allows whole-day rounding of `days` on periods of 60+ days.
        if abs(monthly - expected) > MONEY_TOLERANCE + 0.02 * expected:
            problems.append(
                f"spend.monthly_usd {monthly} is not total_usd {total} normalised to 30 days "
                f"over {days} days (= {expected:.2f})"
            )
    return monthly


def _rec_problems(index: int, rec: Any, problems: list[str]) -> float | None:
    """Check one recommendation; return its monthly savings when numeric."""
    where = f"recommendations[{index}]"
    if not isinstance(rec, dict):
        problems.append(f"{where} is not an object")
        return None
    for key in ("id", "title", "kind"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            problems.append(f"{where}.{key} missing")
    if not isinstance(rec.get("evidence"), dict) or not rec["evidence"]:
        problems.append(f"{where}.evidence missing or empty")
    for key in ("assumptions", "actions"):
        if not isinstance(rec.get(key), list):
            problems.append(f"{where}.{key} is not a list")
    savings = rec.get("monthly_savings_usd")
    if not is_number(savings) or savings < 0:
        problems.append(f"{where}.monthly_savings_usd {savings!r} is not a non-negative number")
        return None
    return float(savings)
