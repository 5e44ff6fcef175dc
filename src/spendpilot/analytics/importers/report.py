"""What an import did: counts, rejected rows with reasons, what could not be priced or read, and notes.

The same report is the API's answer, the CLI's printout and the connectors' run record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# A file of garbage must not turn into a megabyte-sized answer; the count stays exact.
MAX_REJECTED_LISTED = 1000
MAX_MODELS_LISTED = 10


class ImportFormatError(ValueError):
    """The file as a whole is not an importable usage format (the API answers 400)."""


@dataclass
class ImportReport:
    format: str
    imported: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    skipped: int = 0  # records that are not LLM usage (e.g. non-GenAI spans, blank export days)
    rejected: list[dict] = field(default_factory=list)
    unpriced_models: set[str] = field(default_factory=set)
    # Columns of the file this format does not read (their values are not imported).
    unknown_columns: list[str] = field(default_factory=list)
    # Things the user should know about the whole file: encoding, missing models, cost lines.
    notes: list[str] = field(default_factory=list)
    # Rows that are billed cost lines (no tokens), e.g. a cost report.
    cost_lines: int = 0
    # Usage rows without a model (an export not grouped by model): counted, not priced.
    without_model: int = 0
    # provider -> (first, last) timestamp of the usage rows and of the cost lines read.
    usage_spans: dict[str, tuple] = field(default_factory=dict)
    cost_spans: dict[str, tuple] = field(default_factory=dict)
    # Stated versus computed cost, over rows that carry both, per model.
    _stated: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0, 0]))

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_LISTED:
            self.rejected.append({"line": line, "reason": reason})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def add_stated(self, model: str, stated: float, computed: float, rows: int = 1) -> None:
        entry = self._stated[model]
        entry[0] += stated
        entry[1] += computed
        entry[2] += rows

    def add_rows(self, rows: list[dict]) -> None:
        """Account for a batch of parsed rows: unpriced models, rows without a model, cost lines,
        stated costs, and the days each provider's usage and cost lines cover."""
        from ..rows import COST_LINE, UNKNOWN_MODEL

        for r in rows:
            cost_line = r["tags"].get("kind") == COST_LINE
            if cost_line:
                self.cost_lines += 1
            elif r["model"] == UNKNOWN_MODEL:
                self.without_model += 1
            elif not r["priced"]:
                self.unpriced_models.add(r["model"])
            if r.get("computed") and r.get("stated_cost_usd") is not None:
                self.add_stated(r["model"], r["stated_cost_usd"], r["cost_usd"])
            spans = self.cost_spans if cost_line else self.usage_spans
            ts = r["ts"]
            found = spans.get(r["provider"])
            spans[r["provider"]] = (min(found[0], ts), max(found[1], ts)) if found else (ts, ts)

    def stated_vs_computed(self) -> dict | None:
        """The source's own cost beside ours, over the rows that carry both; None when none do."""
        if not self._stated:
            return None
        stated = sum(v[0] for v in self._stated.values())
        computed = sum(v[1] for v in self._stated.values())
        by_model = sorted(self._stated.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))
        return {
            "rows": int(sum(v[2] for v in self._stated.values())),
            "stated_usd": round(stated, 6),
            "computed_usd": round(computed, 6),
            "difference_usd": round(computed - stated, 6),
            "difference_pct": round((computed - stated) / stated * 100, 2) if stated else None,
            "by_model": [
                {"model": model, "rows": int(v[2]), "stated_usd": round(v[0], 6), "computed_usd": round(v[1], 6),
                 "difference_usd": round(v[1] - v[0], 6)}
                for model, v in by_model[:MAX_MODELS_LISTED]
            ],
        }

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": list(self.rejected),
            "rejected_count": self.rejected_count,
            "skipped": self.skipped,
            "unpriced_models": sorted(self.unpriced_models),
            "unknown_columns": list(self.unknown_columns),
            "cost_lines": self.cost_lines,
            "without_model": self.without_model,
            "stated_vs_computed": self.stated_vs_computed(),
            "notes": list(self.notes),
        }
