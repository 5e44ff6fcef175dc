"""Analytics store: one async interface over embedded chDB or a ClickHouse server."""

from __future__ import annotations

import abc
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, TypeVar

import orjson

from . import sql
from .schema import CREATE_TABLE, TABLE

T = TypeVar("T")

# Session-level settings both engines get, so the same SQL returns the same JSON:
# 64-bit integers as numbers, not quoted strings; and an alias never shadows a column
# inside another aggregate (`sum(requests) AS requests` next to `sumIf(requests, ...)`).
OUTPUT_SETTINGS = {"output_format_json_quote_64bit_integers": 0, "prefer_column_name_to_alias": 1}
# Rows are serialised with orjson, whose datetimes are RFC 3339 ("...T...Z").
INSERT_SETTINGS = {"date_time_input_format": "best_effort"}


def encode_rows(rows: list[dict]) -> bytes:
    """Rows as a JSON array, which ClickHouse's JSONEachRow input accepts."""
    return orjson.dumps(rows, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


def decode_rows(payload: bytes) -> list[dict]:
    """JSONEachRow output (one object per line) as a list of dicts."""
    return [orjson.loads(line) for line in payload.splitlines() if line]


def bind_value(value: Any) -> Any:
    """Parameter values both drivers format the same way."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def bind_params(params: dict | None) -> dict | None:
    if not params:
        return None
    return {k: bind_value(v) for k, v in params.items()}


class AnalyticsStore(abc.ABC):
    """Where llm_usage lives. Every method is async; SQL comes from analytics.sql."""

    engine: str = ""

    @abc.abstractmethod
    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Run a SELECT and return its rows as dicts."""

    @abc.abstractmethod
    async def command(self, sql: str, params: dict | None = None) -> None:
        """Run a statement that returns nothing (DDL, ALTER ... DELETE)."""

    @abc.abstractmethod
    async def insert_rows(self, rows: list[dict]) -> int:
        """Insert llm_usage rows (dicts keyed by column name); returns how many."""

    async def ping(self) -> None:
        """Raise if the engine cannot answer a trivial query."""
        rows = await self.query(sql.PING)
        if not rows or rows[0].get("ok") != 1:
            raise RuntimeError(f"{self.engine} did not answer the ping query")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the engine; the store is unusable afterwards."""

    async def ensure_schema(self) -> None:
        await self.command(CREATE_TABLE)


class _SingleThread:
    """Runs blocking engine calls on one dedicated worker thread, off the event loop."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class ChdbStore(AnalyticsStore):
    """Embedded ClickHouse (chDB) in a directory.

    chDB runs one embedded server per process, bound to one directory. ``open_shared``
    hands every caller in the process the same store and closes it with the last user.
    """

    engine = "chdb"
    _open: dict[Path, "ChdbStore"] = {}
    _open_lock = threading.Lock()

    @classmethod
    def open_shared(cls, path: Path | str) -> "ChdbStore":
        resolved = Path(path).resolve()
        with cls._open_lock:
            store = cls._open.get(resolved)
            if store is not None:
                store._refs += 1
                return store
            others = [str(p) for p in cls._open]
        if others:
            raise RuntimeError(
                f"chDB is already open at {others[0]}; one process can use one chDB directory"
            )
        return cls(resolved)

    def __init__(self, path: Path | str) -> None:
        from chdb import session as chdb_session

        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self._refs = 1
        self._worker = _SingleThread("chdb")
        # The session is created on the worker thread it will always be used from.
        self._session = self._worker._executor.submit(chdb_session.Session, str(self.path)).result()
        self._closed = False
        for name, value in OUTPUT_SETTINGS.items():
            self._session.query(f"SET {name} = {int(value)}")
        with self._open_lock:
            self._open[self.path] = self

    def _query(self, statement: str, params: dict | None) -> bytes:
        if self._closed:
            raise RuntimeError("analytics store is closed")
        return self._session.query(statement, "JSONEachRow", params=params).bytes()

    def _insert(self, payload: bytes) -> None:
        if self._closed:
            raise RuntimeError("analytics store is closed")
        settings = ", ".join(f"{k} = '{v}'" for k, v in INSERT_SETTINGS.items())
        with self._session.send_insert(f"INSERT INTO {TABLE} SETTINGS {settings}", "JSONEachRow") as ins:
            ins.append(payload)
            ins.finish()

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        return decode_rows(await self._worker.run(self._query, sql, bind_params(params)))

    async def command(self, sql: str, params: dict | None = None) -> None:
        await self._worker.run(self._query, sql, bind_params(params))

    async def insert_rows(self, rows: list[dict]) -> int:
        if not rows:
            return 0
        await self._worker.run(self._insert, encode_rows(rows))
        return len(rows)

    async def close(self) -> None:
        with self._open_lock:
            if self._closed:
                return
            self._refs -= 1
            if self._refs > 0:
                return
            self._closed = True
            if self._open.get(self.path) is self:
                del self._open[self.path]

        def _close() -> None:
            self._session.close()

        await self._worker.run(_close)
        self._worker.shutdown()


class ClickHouseServerStore(AnalyticsStore):
    """A ClickHouse server over HTTP(S) through clickhouse-connect's threaded client.

    Results are fetched as JSONEachRow and decoded exactly like chDB's, so the same SQL
    yields the same Python values on both engines. ``client`` may be passed in (any
    object with clickhouse-connect's raw_query/raw_insert/command/close) for tests.
    """

    engine = "clickhouse"

    def __init__(self, url: str, *, client: Any | None = None) -> None:
        self.url = url
        self._client = client
        self._client_lock = threading.Lock()
        # clickhouse-connect's sync client is not safe for concurrent queries that share
        # a session; a small pool of threads each talking HTTP is enough for analytics.
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clickhouse")

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import clickhouse_connect

                self._client = clickhouse_connect.get_client(
                    dsn=self.url, autogenerate_session_id=False, settings=dict(OUTPUT_SETTINGS)
                )
            return self._client

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    def _query(self, statement: str, params: dict | None) -> bytes:
        return self._get_client().raw_query(
            statement, parameters=params, settings=dict(OUTPUT_SETTINGS), fmt="JSONEachRow"
        )

    def _command(self, statement: str, params: dict | None) -> None:
        self._get_client().command(statement, parameters=params)

    def _insert(self, payload: bytes) -> None:
        self._get_client().raw_insert(
            TABLE, None, insert_block=payload, settings=dict(INSERT_SETTINGS), fmt="JSONEachRow"
        )

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        return decode_rows(await self._run(self._query, sql, bind_params(params)))

    async def command(self, sql: str, params: dict | None = None) -> None:
        await self._run(self._command, sql, bind_params(params))

    async def insert_rows(self, rows: list[dict]) -> int:
        if not rows:
            return 0
        await self._run(self._insert, encode_rows(rows))
        return len(rows)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.close)
        self._executor.shutdown(wait=False)


def open_analytics(settings: Any) -> AnalyticsStore:
    """The store the settings name: a ClickHouse server when CLICKHOUSE_URL is set, else chDB.

    The table is created if missing. This blocks briefly (schema DDL), so call it at
    start-up, not per request.
    """
    if settings.clickhouse_url:
        store: AnalyticsStore = ClickHouseServerStore(settings.clickhouse_url)
    else:
        store = ChdbStore.open_shared(settings.chdb_path)
    _run_sync(store.ensure_schema())
    return store


def _run_sync(coro: Any) -> Any:
    """Run a coroutine to completion whether or not an event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Inside a running loop (e.g. FastAPI lifespan): finish it on a helper thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
