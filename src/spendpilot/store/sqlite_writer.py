"""SQLite's one write connection, owned by one thread: a whole transaction is one hand-off to it.

SQLite takes one writer at a time and makes the others sleep-and-retry (1 to 100 ms each) in its
busy handler, so the hot writers (the event log, accepting runs) share one connection and queue
for it instead. Through aiosqlite every cursor, statement, commit and pool reset would be a round
trip to the connection's thread; here the event loop hands over the transaction as one function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.orm import Session

T = TypeVar("T")


class SqliteWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        # Started on the first write: commands that only read never start the thread.
        self._thread: ThreadPoolExecutor | None = None
        self._connection: Connection | None = None  # used on the thread only
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}

    async def write(self, work: Callable[[Session], T]) -> T:
        return await self._on_thread(self._write_now, work)

    async def insert(self, table: Table, rows: list[dict]) -> None:
        await self._on_thread(self._insert_now, table, rows)

    async def close(self) -> None:
        if self._thread is None:
            self.engine.dispose()
            return
        # On the thread that owns the connection, after the writes queued before it.
        await self._on_thread(self._close_now)
        self._thread.shutdown()
        self._thread = None

    async def _on_thread(self, fn: Callable[..., T], *args: object) -> T:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def _connected(self) -> Connection:
        if self._connection is None or self._connection.invalidated:
            if self._connection is not None:
                self._connection.close()
            self._connection = self.engine.connect()
        return self._connection

    def _write_now(self, work: Callable[[Session], T]) -> T:
        # The session begins the transaction on the connection and rolls it back if work raises.
        with Session(bind=self._connected(), expire_on_commit=False) as s:
            result = work(s)
            s.commit()
            return result

    def _insert_now(self, table: Table, rows: list[dict]) -> None:
        # Rows as they are, in SQL written once per shape: neither the ORM nor a compiled Core
        # insert, whose per-call work costs several times the commit itself.
        columns = tuple(rows[0])
        key = (table.name, columns)
        sql = self._insert_sql.get(key)
        if sql is None:
            sql = self._insert_sql[key] = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
                                           f"VALUES ({', '.join('?' * len(columns))})")
        connection = self._connected()
        try:
            connection.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])
            connection.commit()
        except BaseException:
            connection.rollback()
            raise

    def _close_now(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self.engine.dispose()
