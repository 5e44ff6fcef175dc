"""What every analysis shares: the finding shape, thresholds and money formatting."""

from __future__ import annotations

from ..window import Window, money

# Below this a finding is noise next to the effort of acting on it.
MIN_MONTHLY_SAVINGS_USD = 1.0


def finding(
    *,
    id: str,
    title: str,
    kind: str,
    monthly_savings_usd: float,
    evidence: dict,
    assumptions: list[str],
    actions: list[str],
) -> dict:
    """A recommendation shaped exactly as in the report (SPEC section 7)."""
    return {
        "id": id,
        "title": title,
        "kind": kind,
        "monthly_savings_usd": money(monthly_savings_usd),
        "evidence": evidence,
        "assumptions": assumptions,
        "actions": actions,
    }


def feature_finding(prefix: str, row: dict, *, evidence: dict, **fields) -> dict:
    """A finding about one feature's traffic on one model: its id and the evidence say which."""
    where = {"provider": row["provider"], "model": row["model"], "feature": row["feature"]}
    return finding(id=f"{prefix}:{row['provider']}:{row['model']}:{row['feature']}",
                   evidence={**where, **evidence}, **fields)


def window_evidence(window: Window) -> dict:
    return {"period": window.as_period()}


def usd(value: float) -> str:
    return f"${value:,.2f}"


def by_savings(findings: list[dict]) -> list[dict]:
    return sorted(findings, key=lambda f: (-f["monthly_savings_usd"], f["id"]))


def monthly_note(window: Window) -> str:
    return (
        f"Monthly figures scale the {window.days}-day window "
        f"({window.as_period()['from']} to {window.as_period()['to']}) to 30 days; "
        "traffic is assumed to continue at the same rate."
    )


PRICE_NOTE = "Prices come from the genai-prices tables bundled with Spendpilot (list prices, no negotiated discounts)."
