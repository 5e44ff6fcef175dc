"""The database handle: async engine, sessions, migrations at start, health ping."""

from __future__ import annotations

import hashlib
import time
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str, pool_size: int = 20, max_overflow: int = 20):
        self.url = url
        self.engine_name = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.engine_name == "postgresql":
            self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                                           pool_pre_ping=True)
            self.write_engine = self.engine
        else:
            # A fixed pool: overflow connections would be opened and closed again under every burst.
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
            # SQLite takes one writer at a time and makes the others sleep-and-retry (1 to 100 ms
            # each) in its busy handler. The hot writers (the event log, accepting runs) share
            # one connection instead, so they queue on the event loop and never sleep in SQLite.
            self.write_engine = create_async_engine(url, pool_size=1, max_overflow=0)
            for engine in (self.engine, self.write_engine):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)
        # For the hot write paths; on PostgreSQL the same pool as `session`.
        self.writer = async_sessionmaker(self.write_engine, expire_on_commit=False)

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            if self.engine_name == "postgresql":
                # Processes starting together migrate one after another; later ones find head.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key("migrate")})
            await conn.run_sync(_upgrade_to_head)

    @asynccontextmanager
    async def advisory_lock(self, name: str):
        """Serialise start-up work (e.g. seeding) across processes; a no-op on SQLite."""
        if self.engine_name != "postgresql":
            yield
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _lock_key(name)})
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _lock_key(name)})

    def usage_import_lock(self, org_id: str):
        """Imports into one org take turns across processes (PostgreSQL only: SQLite is one process)."""
        return self.advisory_lock(f"usage-import:{org_id}")

    async def ping(self) -> float:
        """Round-trip a real query; returns latency in ms."""
        start = time.perf_counter()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return (time.perf_counter() - start) * 1000

    async def close(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"spendpilot:{name}".encode()).digest()[:8], "big", signed=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers proceed while the event log writes; NORMAL sync is durable in WAL.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _upgrade_to_head(connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")
