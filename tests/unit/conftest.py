"""Fixtures shared by the unit tests: a fresh, migrated SQLite file database per test."""

from __future__ import annotations

import pytest

from spendpilot.store.database import Database


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    await database.migrate()
    yield database
    await database.close()
