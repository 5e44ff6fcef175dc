"""The service container every adapter reads: built once at start by server.bootstrap, closed at shutdown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from spendpilot.agents.model import ProseModel
from spendpilot.alerts.service import AlertService
from spendpilot.analytics.catalog import OrgUsage
from spendpilot.analytics.store import AnalyticsStore
from spendpilot.auth.api_keys import ApiKeyService
from spendpilot.auth.oauth import OAuthProviders
from spendpilot.auth.service import AuthService
from spendpilot.auth.signing import KeyRing
from spendpilot.bus.base import EventBus
from spendpilot.config import Settings
from spendpilot.intake.upstream import Gateway
from spendpilot.intake.writer import IntakeWriter
from spendpilot.limits import SlidingWindow
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.service import RunService
from spendpilot.store.database import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    analytics: AnalyticsStore
    bus: EventBus
    event_log: RunEventLog
    runs: RunService
    auth: AuthService
    keys: KeyRing
    oauth: OAuthProviders
    model: ProseModel
    ws_rate: SlidingWindow
    api_keys: ApiKeyService
    # Live intake: the group-commit writer of OTLP spans and gateway calls, and the gateway's pooled client.
    intake: IntakeWriter
    gateway: Gateway
    alerts: AlertService
    started: float = field(default_factory=time.monotonic)

    def org_usage(self, org_id: str) -> OrgUsage:
        """An org's usage as the tool catalogue reads it, budgets included (for adapters that run tools)."""
        return OrgUsage(self.analytics, org_id, budgets=self.alerts.budgets.specs)

    def worker_name(self) -> str:
        """Where this process executes runs, as logs and the start-up line show it."""
        return self.runs.executor.name
