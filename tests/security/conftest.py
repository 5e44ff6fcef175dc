"""Fixtures for the security suite: real servers with settings made for each attack, and an OIDC provider."""

from __future__ import annotations

import httpx
import pytest

from tests.security.oidc_provider import TestProvider
from tests.support.server import RunningServer, free_port

# No demo seeding: these servers start in a couple of seconds and every account is made by a test.
FAST = {"SPENDPILOT_SEED_DEMO": "false"}


def start_server(tmp_path_factory, name: str, env: dict | None = None) -> RunningServer:
    return RunningServer(tmp_path_factory.mktemp(name), free_port(), env={**FAST, **(env or {})}).start()


@pytest.fixture(scope="session")
def security_server(tmp_path_factory):
    """One server for attacks that need no special settings; limits raised so fuzzing is not throttled."""
    server = start_server(tmp_path_factory, "security", {"SPENDPILOT_WS_MESSAGES_PER_MINUTE": "100000",
                                                          "SPENDPILOT_LOGIN_ATTEMPTS_PER_IP": "100000"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oidc_provider():
    provider = TestProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(autouse=False)
def idp(oidc_provider):
    """The provider, reset to good behaviour before and after each test."""
    oidc_provider.reset()
    yield oidc_provider
    oidc_provider.reset()


ALLOWED_ORIGIN = "https://app.example.com"
MAX_BODY = 16 * 1024


@pytest.fixture(scope="session")
def oauth_server(tmp_path_factory, oidc_provider):
    """Deployed behind TLS with sign-in providers, a CORS allow-list and a small body cap."""
    server = start_server(tmp_path_factory, "oauth", {
        "SPENDPILOT_BEHIND_TLS": "true",
        "SPENDPILOT_CORS_ORIGINS": f'["{ALLOWED_ORIGIN}"]',
        "SPENDPILOT_MAX_REQUEST_BYTES": str(MAX_BODY),
        "SPENDPILOT_OIDC_NAME": "Test IdP",
        "SPENDPILOT_OIDC_DISCOVERY_URL": oidc_provider.discovery_url,
        "SPENDPILOT_OIDC_CLIENT_ID": oidc_provider.client.client_id,
        "SPENDPILOT_OIDC_CLIENT_SECRET": oidc_provider.client.client_secret,
        "SPENDPILOT_GOOGLE_CLIENT_ID": "google-client.apps.googleusercontent.com",
        "SPENDPILOT_GOOGLE_CLIENT_SECRET": "google-secret",
        "SPENDPILOT_WS_MESSAGES_PER_MINUTE": "100000",
    })
    yield server
    server.stop()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def new_user(url: str, http: httpx.AsyncClient | None = None) -> dict:
    """Register a fresh account; returns the token pair with the user."""
    import uuid

    own = http is None
    http = http or httpx.AsyncClient(base_url=url, timeout=30)
    try:
        response = await http.post(f"{url}/auth/register", json={
            "email": f"sec-{uuid.uuid4().hex[:12]}@example.com", "password": "correct-horse-battery"})
        response.raise_for_status()
        return response.json()
    finally:
        if own:
            await http.aclose()
