"""Check results and the one exception a check raises to fail with a reason."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import NoReturn


class CheckFailed(Exception):
    """A check's verdict: failed, for the reason given."""


class Silent(CheckFailed):
    """The server did not answer within a bound; checks needing that answer are not run afterwards.

    `capability` names what is missing: "server" (HTTP), "socket" (WebSocket upgrade or
    connection_ready) or "runs" (ack, events or the final event of a run).
    """

    def __init__(self, capability: str, message: str):
        super().__init__(message)
        self.capability = capability


def fail(problems: list[str], limit: int = 8) -> NoReturn:
    """Raise CheckFailed listing the first problems."""
    shown = "; ".join(problems[:limit])
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    raise CheckFailed(shown + more)


def fail_if(problems: list[str], limit: int = 8) -> None:
    """Raise CheckFailed listing the first problems, if there are any."""
    if problems:
        fail(problems, limit)


@dataclass
class CheckResult:
    """One named check's outcome."""

    name: str
    passed: bool
    reason: str
    duration_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class VerifyReport:
    """Everything one verifier run found."""

    url: str
    checks: list[CheckResult] = field(default_factory=list)
    latencies_ms: dict[str, float] = field(default_factory=dict)
    # The bound (seconds) of every wait, as the run was configured.
    bounds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "passed": self.passed,
            "checks": [c.as_dict() for c in self.checks],
            "latencies_ms": dict(self.latencies_ms),
            "bounds_s": dict(self.bounds),
        }
