"""The service container every adapter reads: built once at start by server.bootstrap, closed at shutdown."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from spendpilot.agents.model import ProseModel
from spendpilot.alerts.service import AlertService
from spendpilot.analytics.catalog import OrgUsage
from spendpilot.analytics.live_writer import IntakeWriter
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.auth.account import AccountService
from spendpilot.auth.api_keys import ApiKeyService
from spendpilot.auth.mail import Mailer
from spendpilot.auth.oauth import OAuthProviders
from spendpilot.auth.service import AuthService
from spendpilot.auth.signing import KeyRing
from spendpilot.bus.base import EventBus
from spendpilot.config import Settings
from spendpilot.connectors.scheduler import ConnectorScheduler
from spendpilot.connectors.service import ConnectorService
from spendpilot.limits import RateLimit
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.service import RunService
from spendpilot.store.database import Database
from spendpilot.teams.invitations import Invitations
from spendpilot.teams.members import Members


@dataclass
class Services:
    settings: Settings
    db: Database
    analytics: AnalyticsStore
    bus: EventBus
    event_log: RunEventLog
    runs: RunService
    auth: AuthService
    accounts: AccountService
    members: Members
    invitations: Invitations
    mailer: Mailer
    keys: KeyRing
    oauth: OAuthProviders
    model: ProseModel
    # Socket messages per user per minute; shared through Redis in a split deployment.
    ws_rate: RateLimit
    alerts: AlertService
    api_keys: ApiKeyService
    # Live intake: the group-commit writer of OTLP spans and gateway calls.
    intake: IntakeWriter
    # Provider connectors, and their schedule in processes that serve the API.
    connectors: ConnectorService
    scheduler: ConnectorScheduler | None = None
    # Work the process wiring adds for shutdown (e.g. leaving the deployment's registry of analytics
    # stores), run after the event log is flushed and before the bus closes.
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def org_usage(self, org_id: str) -> OrgUsage:
        """An org's usage as the tool catalogue reads it, budgets included (for adapters that run tools)."""
        return OrgUsage(self.analytics, org_id, budgets=self.alerts.budgets.specs)

    def worker_name(self) -> str:
        """Where this process executes runs, as logs and the start-up line show it."""
        return self.runs.executor.name
