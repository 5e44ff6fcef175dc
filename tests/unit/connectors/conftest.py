"""Connector tests: real SQLite (and PostgreSQL when reachable), real chDB, the fake admin APIs over HTTP."""

from __future__ import annotations

import uuid

import pytest

from spendpilot.analytics.store import ChdbStore
from tests.support.fake_admin_apis import FakeAdminApis


@pytest.fixture(scope="session")
async def store(tmp_path_factory):
    chdb = ChdbStore.open_shared(tmp_path_factory.mktemp("chdb"))
    await chdb.ensure_schema()
    yield chdb
    await chdb.close()


@pytest.fixture(scope="module")
def fake():
    apis = FakeAdminApis().start()
    yield apis
    apis.stop()


@pytest.fixture
def org_id() -> str:
    return f"org_{uuid.uuid4().hex[:12]}"
