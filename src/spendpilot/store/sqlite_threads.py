"""SQLite connections owned by threads of their own: a whole transaction is one hand-off to a thread.

Through aiosqlite every cursor, statement, fetch, commit and pool reset is a round trip between the
event loop and the connection's thread. The hot paths (the event log, accepting runs, the reads
each run and each socket frame make) hand over their whole transaction as one function instead.

For writes there is one thread and one connection: SQLite takes one writer at a time and makes
the others sleep-and-retry (1 to 100 ms each) in its busy handler, so the hot writers queue for
the one connection instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.orm import Session

T = TypeVar("T")


class SqliteThreads:
    def __init__(self, engine: Engine, threads: int, name: str):
        self.engine = engine
        self.threads = threads
        self.name = name
        # Started on first use: commands that never use them never start the threads.
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()  # each thread's own connection
        self._opened: list[Connection] = []
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}

    async def run(self, work: Callable[[Session], T], *, commit: bool) -> T:
        """`work` in one transaction on a thread's connection: committed if `commit`, else rolled back."""
        return await self._on_thread(self._run_now, work, commit)

    async def insert(self, table: Table, rows: list[dict]) -> None:
        await self._on_thread(self._insert_now, table, rows)

    async def close(self) -> None:
        if self._pool is not None:
            # Queued work finishes first; the connections are closed once no thread uses them.
            self._pool.shutdown(wait=True)
            self._pool = None
        for connection in self._opened:
            connection.close()
        self._opened.clear()
        self.engine.dispose()

    async def _on_thread(self, fn: Callable[..., T], *args: object) -> T:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=self.name)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _connected(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.invalidated:
            if connection is not None:
                connection.close()
                self._opened.remove(connection)
            connection = self._local.connection = self.engine.connect()
            self._opened.append(connection)
        return connection

    def _run_now(self, work: Callable[[Session], T], commit: bool) -> T:
        # The session begins the transaction on the connection and rolls it back on leaving unless committed.
        with Session(bind=self._connected(), expire_on_commit=False) as s:
            result = work(s)
            if commit:
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
