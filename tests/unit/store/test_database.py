"""The database handle on SQLite: migrations build every model table, run twice safely, and the helpers work."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from spendpilot.clock import utcnow
from spendpilot.store.database import Database
from spendpilot.store.models import Base, Org, User


async def schema(db: Database) -> dict[str, dict]:
    def read(conn):
        inspector = inspect(conn)
        return {table: {"columns": {c["name"] for c in inspector.get_columns(table)},
                        "indexes": {i["name"] for i in inspector.get_indexes(table)}}
                for table in inspector.get_table_names()}
    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


async def test_migrations_create_every_model_table_with_its_columns(db):
    found = await schema(db)
    assert set(Base.metadata.tables) <= set(found)
    for name, table in Base.metadata.tables.items():
        assert found[name]["columns"] == {c.name for c in table.columns}, name
        declared = {i.name for i in table.indexes}
        assert declared <= found[name]["indexes"], (name, declared - found[name]["indexes"])


def _the_one_head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from spendpilot.store.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"migrations must form one line, found heads {heads}"
    return heads[0]


async def test_migrations_end_at_the_newest_revision(db):
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one() == _the_one_head()
    assert "ix_runs_status" in (await schema(db))["runs"]["indexes"]


async def test_migrating_again_changes_nothing_and_keeps_the_data(db):
    before = await schema(db)
    async with db.session() as s:
        s.add(Org(id="org_kept", name="kept", created_at=utcnow()))
        await s.commit()
    await db.migrate()
    await db.migrate()
    assert await schema(db) == before
    async with db.session() as s:
        assert (await s.get(Org, "org_kept")).name == "kept"


async def test_a_second_handle_on_the_same_file_finds_the_schema_at_head(db, tmp_path):
    again = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db")
    try:
        await again.migrate()
        assert await schema(again) == await schema(db)
    finally:
        await again.close()


async def test_foreign_keys_are_enforced(db):
    async with db.session() as s:
        s.add(User(id="usr_orphan", org_id="org_missing", email="o@example.com", name="o", created_at=utcnow()))
        with pytest.raises(IntegrityError):
            await s.commit()


async def test_the_file_is_in_wal_mode(db):
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"


async def test_advisory_lock_is_a_no_op_on_sqlite(db):
    assert db.engine_name == "sqlite"
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with db.advisory_lock("seed"):
            entered.append(name)
            await asyncio.sleep(0.01)
            entered.append(name)

    # Both holders of the same lock name are inside at once: nothing serialises them.
    await asyncio.gather(hold("a"), hold("b"))
    assert entered == ["a", "b", "a", "b"]


async def test_advisory_lock_lets_an_error_through(db):
    with pytest.raises(RuntimeError, match="inside"):
        async with db.advisory_lock("seed"):
            raise RuntimeError("inside")


async def test_ping_round_trips_a_query_and_reports_its_latency(db):
    latency = await db.ping()
    assert isinstance(latency, float) and 0 <= latency < 5000


async def test_ping_fails_when_the_database_cannot_be_opened(tmp_path):
    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/t.db")
    try:
        with pytest.raises(OperationalError):
            await broken.ping()
    finally:
        await broken.close()
        # aiosqlite stops the thread of a connection that failed to open in the background; let it finish.
        await asyncio.sleep(0.1)
