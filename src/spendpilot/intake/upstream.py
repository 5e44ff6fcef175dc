"""The gateway's one pooled HTTP client to the providers, built from settings at start and closed at shutdown."""

from __future__ import annotations

import httpx

from spendpilot.config import Settings


class Gateway:
    """The one pooled client every gateway call goes through."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=settings.gateway_connect_timeout_s, read=settings.gateway_read_timeout_s,
                                  write=60.0, pool=settings.gateway_connect_timeout_s),
            limits=httpx.Limits(max_connections=settings.gateway_max_connections,
                                max_keepalive_connections=min(200, settings.gateway_max_connections)),
            follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self.client.aclose()
