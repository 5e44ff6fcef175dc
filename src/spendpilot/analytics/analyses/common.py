"""What every analysis shares: the finding shape, thresholds and money formatting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

from ..scope import Scope
from ..store import AnalyticsStore
from ..window import Window, money


class AnalysisFn(Protocol):
    """An analysis over one org's usage in a window of days, narrowed to a scope ({} is the whole org)."""

    async def __call__(self, store: AnalyticsStore, org_id: str, start: date | None = None,
                      end: date | None = None, scope: Scope = ...) -> list[dict]: ...


@dataclass(frozen=True)
class Analysis:
    """One analysis, declared once beside its SQL: the optimization agent runs it as the tool `find_<name>`."""

    name: str
    run: AnalysisFn
    description: str
    # savings: recommendations with monthly savings; anomalies: days to mention as caveats.
    kind: Literal["savings", "anomalies"]
    # The questions (intent names) it answers; every savings analysis serves a full cost review.
    intents: tuple[str, ...]

    @property
    def tool(self) -> str:
        return f"find_{self.name}"

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
