"""The database handle: async engine, sessions, migrations at start, health ping."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Table, create_engine, event, insert, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from spendpilot.store.sqlite_threads import SqliteThreads

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

T = TypeVar("T")
# Work done in one transaction by Database.write or Database.read: plain (sync) SQLAlchemy on a Session.
Work = Callable[[Session], T]
# Threads for the hot reads on SQLite: reads are short, and more threads would only take turns for the GIL.
SQLITE_READ_THREADS = 2


class Database:
    def __init__(self, url: str, pool_size: int = 20, max_overflow: int = 20):
        self.url = url
        self.engine_name = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.engine_name == "postgresql":
            self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                                           pool_pre_ping=True)
            # Where `write` and `insert` commit (sync side, for listeners): on PostgreSQL the shared pool.
            self.write_engine: Engine = self.engine.sync_engine
            self._sqlite_writer: SqliteThreads | None = None
            self._sqlite_readers: SqliteThreads | None = None
        else:
            # A fixed pool: overflow connections would be opened and closed again under every burst.
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # The hot paths run on threads of their own (see store.sqlite_threads); the writers share one connection.
            self.write_engine = _sync_sqlite_engine(url, 1)
            self._sqlite_writer = SqliteThreads(self.write_engine, 1, "sqlite-writer")
            self._sqlite_readers = SqliteThreads(_sync_sqlite_engine(url, SQLITE_READ_THREADS), SQLITE_READ_THREADS,
                                                 "sqlite-reader")
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in one transaction and commit it; rolled back if it raises. The hot write path."""
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.run(work, commit=True)
        async with self.session() as s:
            result = await s.run_sync(work)
            await s.commit()
            return result

    async def read(self, work: Work[T]) -> T:
        """Run `work` in one read-only transaction. The hot read path (each run, each socket frame)."""
        if self._sqlite_readers is not None:
            return await self._sqlite_readers.run(work, commit=False)
        async with self.session() as s:
            return await s.run_sync(work)

    async def insert(self, table: Table, rows: list[dict]) -> None:
        """Insert plain rows (dicts with the same keys) in one transaction: no ORM, no session."""
        if self._sqlite_writer is not None:
            await self._sqlite_writer.insert(table, rows)
            return
        async with self.engine.begin() as conn:
            await conn.execute(insert(table), rows)

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
        for threads in (self._sqlite_writer, self._sqlite_readers):
            if threads is not None:
                await threads.close()


def _sync_sqlite_engine(url: str, connections: int) -> Engine:
    engine = create_engine(make_url(url).set(drivername="sqlite+pysqlite"), pool_size=connections, max_overflow=0)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


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
