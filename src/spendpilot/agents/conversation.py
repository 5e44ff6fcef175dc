"""What a run starts from in its thread: the period, scope, intent and report of the answer it follows.

A question sent to a thread inherits the period and scope of the thread's last completed run (SPEC §13);
a regenerated answer keeps exactly those of the answer it replaces. The app finds that answer
(runs.conversation, which reads the store) and hands it to the pipeline as a `Basis`; agents never read
the store themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from spendpilot.analytics.scope import WHOLE_ORG, Scope, ScopeError
from spendpilot.analytics.window import Period


@dataclass(frozen=True)
class Basis:
    """The earlier answer a run follows; the default is a thread's first question (whole org, all usage)."""

    period: Period = Period()
    scope: Scope = WHOLE_ORG
    intent: str | None = None
    # That answer's report (for "tell me more about the caching recommendation", the breakdown it used).
    report: dict | None = None
    # The run it follows, or None for a first question.
    follows: str | None = None
    # Regenerating: the run whose answer is replaced. Its period and scope are kept as they were.
    regenerates: str | None = None
    fixed: bool = False

    @property
    def is_follow_up(self) -> bool:
        return self.follows is not None

    @classmethod
    def of_run(cls, run_id: str, period_from: str | None, period_to: str | None, scope: dict | None,
               intent: str | None, report: dict | None, *, regenerates: str | None = None,
               fixed: bool = False) -> Basis:
        """A basis from what the store kept of a run; values it cannot read fall back to the defaults."""
        try:
            stored_scope = Scope.of(scope or {})
        except ScopeError:
            stored_scope = WHOLE_ORG
        return cls(period=Period(_day(period_from), _day(period_to)), scope=stored_scope, intent=intent,
                   report=report, follows=run_id, regenerates=regenerates, fixed=fixed)


# run id -> what it starts from; the app provides it (runs.conversation.ThreadHistory).
BasisSource = Callable[[str], Awaitable[Basis]]


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
