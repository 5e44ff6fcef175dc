"""State shared by the checks of one verifier run, and the bound of every wait."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from spendpilot.verify.client import Account, Api, Conn
from spendpilot.verify.results import CheckFailed
from spendpilot.verify.runs import RunOutcome, drive_run

# The server starts a run's deadline when it accepts the message and its final event still
# has to travel: the verifier waits this much longer than the deadline before calling it missing.
FINAL_GRACE_S = 2.0


@dataclass(frozen=True)
class Bounds:
    """How long the verifier waits for each answer (seconds); the contract's figures by default.

    SPEC §4: the ack within 1 s, the final event within the run deadline (default 120 s); the
    first event "within a few seconds". A server that never answers fails at the first bound.
    """

    request_s: float = 10.0  # each HTTP answer, each WebSocket upgrade and its connection_ready
    ack_s: float = 1.0
    first_event_s: float = 5.0
    run_deadline_s: float = 120.0

    @property
    def final_s(self) -> float:
        return self.run_deadline_s + FINAL_GRACE_S

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def describe(self) -> str:
        return (f"ack within {self.ack_s:g}s, first event within {self.first_event_s:g}s, final event within "
                f"{self.run_deadline_s:g}s, each request within {self.request_s:g}s")


@dataclass
class Context:
    """The deployment under test, the signed-in account and what earlier checks produced."""

    base: str
    api: Api
    bounds: Bounds
    email: str | None = None
    password: str | None = None
    token: str | None = None
    account: Account | None = None
    golden: RunOutcome | None = None
    latencies_ms: dict[str, float] = field(default_factory=dict)
    # What the server was found not to answer ("server", "socket", "runs") and why; the
    # checks that need it are not run, so a silent server fails fast instead of once per wait.
    down: dict[str, str] = field(default_factory=dict)

    @property
    def timeout(self) -> float:
        """The bound of one HTTP request or socket handshake."""
        return self.bounds.request_s

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

    async def drive(self, conn: Conn, *, content: str | None = None, thread_id: str | None = None,
                    grace: float = 0.3, on_ack: Callable[[RunOutcome], Awaitable[None]] | None = None,
                    stop: Callable[[RunOutcome], bool] | None = None) -> RunOutcome:
        """One run on `conn`, each stage bounded: ack, first event, final event."""
        extra = {"content": content} if content is not None else {}
        return await drive_run(conn, timeout=self.bounds.final_s, ack_within=self.bounds.ack_s,
                               first_event_within=self.bounds.first_event_s, thread_id=thread_id, grace=grace,
                               on_ack=on_ack, stop=stop, **extra)
