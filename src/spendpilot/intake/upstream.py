"""The gateway's pooled HTTP clients to the providers, built from settings at start and closed at shutdown."""

from __future__ import annotations

import itertools

import httpx

from spendpilot.config import Settings

# httpcore walks its whole pool, with a nested walk over it for each idle connection, every time a request
# starts or ends: quadratic in the pool's size, so at 100 concurrent streams one pool cost milliseconds of CPU
# per call. Calls are spread round-robin over several smaller pools to keep every walk short.
POOLS = 32


class Gateway:
    """The clients every gateway call goes through (one pool of connections each)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        per_pool = max(1, settings.gateway_max_connections // POOLS)
        # One TLS context for all the pools: each client would otherwise load the CA bundle itself
        # (about 40 ms each, over a second of start-up for 32).
        tls = httpx.create_ssl_context()
        self.clients = [
            httpx.AsyncClient(
                timeout=httpx.Timeout(connect=settings.gateway_connect_timeout_s,
                                      read=settings.gateway_read_timeout_s, write=60.0,
                                      pool=settings.gateway_connect_timeout_s),
                limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=min(8, per_pool)),
                verify=tls, follow_redirects=False, trust_env=False)
            for _ in range(POOLS)]
        self._turn = itertools.cycle(self.clients)

    @property
    def client(self) -> httpx.AsyncClient:
        """The client for the next call."""
        return next(self._turn)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()
