"""Exports of what a person owns: a thread as Markdown or JSON, a run's report as JSON or CSV (SPEC §13).

Markdown keeps every message verbatim, in order, under `### You` or `### Spendpilot`, with the answer's
figures after it (money as $1,234.56); an answer that was regenerated is marked "(regenerated)". The CSV
has one row per recommendation, ranked, and its savings column sums to the report's total.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from spendpilot.analytics.scope import Scope, ScopeError

THREAD_FORMATS = ("markdown", "json")
REPORT_FORMATS = ("json", "csv")
CSV_HEADER = ("rank", "id", "title", "kind", "monthly_savings_usd", "feature", "model")


def slug(title: str, fallback: str = "conversation") -> str:
    text = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return text[:60].rstrip("-") or fallback


def usd(value: Any) -> str:
    return f"${float(value or 0):,.2f}"


def scope_text(scope: dict | None) -> str:
    try:
        return Scope.of(scope or {}).describe()
    except ScopeError:
        return "the whole organisation"


def figures_line(report: dict) -> str:
    """The headline figures of a report, in one line of Markdown."""
    period, spend = report.get("period") or {}, report.get("spend") or {}
    parts = [f"Spend {usd(spend.get('total_usd'))} from {period.get('from')} to {period.get('to')}",
             f"{usd(spend.get('monthly_usd'))} a month",
             f"savings {usd(report.get('total_monthly_savings_usd'))} a month",
             f"scope: {scope_text(report.get('scope'))}"]
    return "_" + " · ".join(parts) + "_"


def thread_markdown(thread: dict, messages: list[dict]) -> str:
    lines = [f"# {thread['title']}", ""]
    for message in messages:
        if message["role"] == "user":
            heading = "### You" + (" (edited)" if message.get("edits") else "")
        else:
            heading = "### Spendpilot" + (" (regenerated)" if message.get("superseded_by") else "")
        lines += [heading, "", message["content"], ""]
        if message.get("report"):
            lines += [figures_line(message["report"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def report_csv(report: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for rank, rec in enumerate(report.get("recommendations") or [], 1):
        evidence = rec.get("evidence") or {}
        writer.writerow([rank, rec.get("id", ""), rec.get("title", ""), rec.get("kind", ""),
                         f"{float(rec.get('monthly_savings_usd', 0)):.2f}", evidence.get("feature") or "",
                         evidence.get("model") or ""])
    return out.getvalue()
