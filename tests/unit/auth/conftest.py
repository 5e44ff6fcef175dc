"""Fixtures for the auth tests: a fresh key ring, and the token service that signs with it."""

from __future__ import annotations

import pytest

from spendpilot.auth.signing import KeyRing
from spendpilot.auth.tokens import TokenService
from tests.unit.auth.keys import ACCESS_TTL_S, REFRESH_TTL_S, new_pem


@pytest.fixture
def keys() -> KeyRing:
    return KeyRing.from_pem(new_pem())


@pytest.fixture
def tokens(keys) -> TokenService:
    return TokenService(keys, access_ttl_s=ACCESS_TTL_S, refresh_ttl_s=REFRESH_TTL_S)
