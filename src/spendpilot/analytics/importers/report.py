"""What an import did: counts, rejected rows with reasons, and models missing from the price tables."""

from __future__ import annotations

from dataclasses import dataclass, field

# A file of garbage must not turn into a megabyte-sized answer; the count stays exact.
MAX_REJECTED_LISTED = 1000


class ImportFormatError(ValueError):
    """The file as a whole is not an importable usage format (the API answers 400)."""


@dataclass
class ImportReport:
    format: str
    imported: int = 0
    duplicates: int = 0
    rejected_count: int = 0
    skipped: int = 0  # records that are not LLM usage (e.g. non-GenAI spans)
    rejected: list[dict] = field(default_factory=list)
    unpriced_models: set[str] = field(default_factory=set)

    def reject(self, line: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED_LISTED:
            self.rejected.append({"line": line, "reason": reason})

    def as_dict(self) -> dict:
        return {
            "format": self.format,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "rejected": list(self.rejected),
            "rejected_count": self.rejected_count,
            "skipped": self.skipped,
            "unpriced_models": sorted(self.unpriced_models),
        }
