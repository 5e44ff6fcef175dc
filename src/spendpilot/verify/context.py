"""State shared by the checks of one verifier run."""

from __future__ import annotations

from dataclasses import dataclass, field

from spendpilot.verify.client import Account, Api
from spendpilot.verify.results import CheckFailed
from spendpilot.verify.runs import RunOutcome


@dataclass
class Context:
    """The deployment under test, the signed-in account and what earlier checks produced."""

    base: str
    api: Api
    timeout: float
    email: str | None = None
    password: str | None = None
    token: str | None = None
    account: Account | None = None
    golden: RunOutcome | None = None
    latencies_ms: dict[str, float] = field(default_factory=dict)

    def need_account(self) -> Account:
        if self.account is None:
            raise CheckFailed("not run: no signed-in account (see login)")
        return self.account

    def need_golden(self) -> RunOutcome:
        out = self.golden
        if out is None or out.run_id is None or out.thread_id is None:
            raise CheckFailed("not run: golden_path produced no run")
        return out

    def record(self, stage: str, value: float | None) -> None:
        if value is not None:
            self.latencies_ms[stage] = round(value, 1)
