"""Fixtures for analytics tests: one real chDB store per test session, one org per test."""

from __future__ import annotations

import uuid

import pytest

from spendpilot.analytics.store import ChdbStore


@pytest.fixture(scope="session")
async def store(tmp_path_factory):
    # chDB runs one embedded server per process: every test shares this store and
    # isolates itself with its own org_id.
    chdb = ChdbStore.open_shared(tmp_path_factory.mktemp("chdb"))
    await chdb.ensure_schema()
    yield chdb
    await chdb.close()


@pytest.fixture
def org_id() -> str:
    return f"org_{uuid.uuid4().hex[:12]}"
