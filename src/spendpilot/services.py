"""The service container: built once at start from Settings, closed at shutdown."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from spendpilot.config import Settings
from spendpilot.limits import SlidingWindow


@dataclass
class Services:
    settings: Settings
    db: Any
    analytics: Any
    bus: Any
    event_log: Any
    runs: Any
    auth: Any
    keys: Any
    connections: Any
    model: Any
    ws_rate: SlidingWindow
    started: float = field(default_factory=time.monotonic)

    @cached_property
    def oauth(self):
        from spendpilot.auth.oauth import OAuthProviders

        return OAuthProviders(self.settings, self.keys)

    def oauth_providers(self) -> list[dict]:
        return self.oauth.listing()
