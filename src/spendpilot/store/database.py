"""The database handle: async engine, sessions, migrations at start, health ping."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

T = TypeVar("T")
# Work done in one write transaction: plain (sync) SQLAlchemy on a Session, committed by Database.write.
WriteWork = Callable[[Session], T]


class Database:
    def __init__(self, url: str, pool_size: int = 20, max_overflow: int = 20):
        self.url = url
        self.engine_name = "sqlite" if url.startswith("sqlite") else "postgresql"
        if self.engine_name == "postgresql":
            self.engine: AsyncEngine = create_async_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                                                           pool_pre_ping=True)
            # Where `write` commits (sync side, for listeners): on PostgreSQL the shared pool.
            self.write_engine: Engine = self.engine.sync_engine
        else:
            # A fixed pool: overflow connections would be opened and closed again under every burst.
            self.engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            # SQLite takes one writer at a time and makes the others sleep-and-retry (1 to 100 ms
            # each) in its busy handler. The hot writers (the event log, accepting runs) share one
            # connection instead, owned by one thread: a whole transaction is one hand-off to that
            # thread, where through aiosqlite each statement, cursor and commit would be one.
            self.write_engine = create_engine(make_url(url).set(drivername="sqlite+pysqlite"), pool_size=1,
                                              max_overflow=0)
            event.listen(self.write_engine, "connect", _sqlite_pragmas)
        self._write_thread: ThreadPoolExecutor | None = None
        self.session = async_sessionmaker(self.engine, expire_on_commit=False)

    async def write(self, work: WriteWork[T]) -> T:
        """Run `work` in one transaction and commit it; rolled back if it raises. The hot write path."""
        if self.engine_name == "postgresql":
            async with self.session() as s:
                result = await s.run_sync(work)
                await s.commit()
                return result
        if self._write_thread is None:
            self._write_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, self._write_now, work)

    def _write_now(self, work: WriteWork[T]) -> T:
        with Session(self.write_engine, expire_on_commit=False) as s:
            result = work(s)
            s.commit()
            return result

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
        if self._write_thread is not None:
            # On the thread that owns the connection; queued writes finish first.
            await asyncio.get_running_loop().run_in_executor(self._write_thread, self.write_engine.dispose)
            self._write_thread.shutdown()
            self._write_thread = None
        elif self.engine_name == "sqlite":
            self.write_engine.dispose()


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
