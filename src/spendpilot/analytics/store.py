"""Analytics store: one async interface over embedded chDB or a ClickHouse server."""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from . import sql
from .schema import (
    ALTER_DEFAULTS,
    CREATE_TABLE,
    INSERT_COLUMNS,
    MATERIALIZE_PROMPT_KEY,
    ROLLUPS,
    TABLE,
    backfill,
    create_view,
)
from .threads import FirstFree, SingleThread
from .versions import (
    LocalVersions,
    UnknownVersions,
    VersionBook,
    orgs_of_arrow,
    orgs_of_rows,
    redis_versions,
    written_by_statement,
)
from .wire import (
    INSERT_SETTINGS,
    OUTPUT_SETTINGS,
    arrow_stream,
    bind_params,
    decode_rows,
    encode_rows,
    escape_params,
    insert_statement,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

# A lock per org that every writer of the store sees: (org_id) -> async context manager.
OrgLock = Callable[[str], AbstractAsyncContextManager[None]]
# The store's identity: one random id kept in the store itself, so processes that read and
# write the same data see the same id however they reach it (host names, proxies, replicas).
IDENTITY_TABLE = "spendpilot_store"

# Keyed by loop too: an asyncio lock belongs to the loop it first waits on, and the CLI runs
# one loop per command. Weak values: a lock lives while an import holds or awaits it.
_process_locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = weakref.WeakValueDictionary()


@asynccontextmanager
async def process_lock(org_id: str) -> AsyncIterator[None]:
    """Imports into one org take turns within this process."""
    key = (id(asyncio.get_running_loop()), org_id)
    lock = _process_locks.get(key)
    if lock is None:
        lock = _process_locks[key] = asyncio.Lock()
    async with lock:
        yield


class AnalyticsStore(abc.ABC):
    """Where llm_usage lives. Every method is async; SQL comes from analytics.sql."""

    engine: str = ""
    # Until a deployment shares its lock (share_import_lock), imports take turns in this process.
    _shared_import_lock: OrgLock | None = None

    # Per-org usage versions (analytics.versions): each store kind sets its own; a deployment may share them.
    versions: VersionBook = UnknownVersions()

    def share_usage_versions(self, book: VersionBook) -> None:
        """Keep usage versions in `book`, which every process writing to this store changes."""
        self.versions = book

    async def usage_written(self, org_ids: Collection[str] | None) -> None:
        """Usage of these orgs (None: of orgs not named) was stored: their cached results are stale."""
        await self.versions.changed(org_ids)

    async def _statement_done(self, statement: str, params: dict | None, usage_of: Collection[str] | None) -> None:
        orgs = written_by_statement(statement, params)
        if orgs is not False:
            await self.usage_written(usage_of if usage_of is not None else orgs)  # type: ignore[arg-type]

    def share_import_lock(self, lock: OrgLock) -> None:
        """Serialise imports per org with `lock`, which every process writing to this store sees."""
        self._shared_import_lock = lock

    def import_lock(self, org_id: str) -> AbstractAsyncContextManager[None]:
        """Held while importing into an org: the duplicate check and the insert are one step."""
        return (self._shared_import_lock or process_lock)(org_id)

    async def identity(self) -> str:
        """The id stored in this store (created on first use): equal for every process that shares it."""
        await self.command(f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} (id String) ENGINE = MergeTree ORDER BY id")
        query = f"SELECT min(id) AS id FROM {IDENTITY_TABLE}"
        found = (await self.query(query))[0]["id"]
        if not found:
            # Processes starting together may each add one; all of them then read the same least id.
            await self.command(f"INSERT INTO {IDENTITY_TABLE} SELECT {{id:String}}", {"id": uuid.uuid4().hex})
            found = (await self.query(query))[0]["id"]
        return str(found)

    @abc.abstractmethod
    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Run a SELECT and return its rows as dicts."""

    @abc.abstractmethod
    async def command(self, sql: str, params: dict | None = None, *, usage_of: Collection[str] | None = None) -> None:
        """Run a statement that returns nothing (DDL, ALTER ... DELETE). `usage_of`: the orgs whose usage it
        writes when no `org_id` parameter names them (a staged merge); else every org's cache goes stale."""

    @abc.abstractmethod
    async def insert_rows(self, rows: list[dict], *, table: str = TABLE, columns: list[str] | None = None) -> int:
        """Insert llm_usage rows (dicts keyed by column name); returns how many.

        Missing columns take their defaults; row_key is always computed by the engine. ``columns``
        names the columns to insert when the table has more than llm_usage's (default INSERT_COLUMNS).
        """

    @abc.abstractmethod
    async def insert_arrow(self, data: Any, *, table: str = TABLE) -> int:
        """Insert a pyarrow Table whose columns are a subset of llm_usage's; returns rows."""

    async def ping(self) -> None:
        """Raise if the engine cannot answer a trivial query."""
        rows = await self.query(sql.PING)
        if not rows or rows[0].get("ok") != 1:
            raise RuntimeError(f"{self.engine} did not answer the ping query")

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the engine; the store is unusable afterwards."""

    async def release_memory(self) -> None:
        """Return memory the engine holds but no longer uses (an embedded engine's; a server's is its own)."""
        return None

    async def ensure_schema(self) -> None:
        """Create llm_usage and its rollups; a rollup whose view is new is filled from llm_usage."""
        await self.command(CREATE_TABLE)
        had_prompt_key = (await self.query(sql.COLUMN_EXISTS, {"table": TABLE, "name": "prompt_key"}))[0]["n"]
        await self.command(ALTER_DEFAULTS)
        if not had_prompt_key:
            await self.command(MATERIALIZE_PROMPT_KEY)
        for table, ddl, select in ROLLUPS:
            view = f"{table}_mv"
            found = await self.query(sql.TABLE_EXISTS, {"name": view})
            await self.command(ddl)
            if not found[0]["n"]:
                # Start the rollup from scratch so no call is counted twice.
                await self.command(sql.truncate_table(table))
                await self.command(create_view(table, select))
                await self.command(backfill(table, select))


class ChdbStore(AnalyticsStore):
    """Embedded ClickHouse (chDB) in a directory.

    chDB runs one embedded server per process, bound to one directory. ``open_shared``
    hands every caller in the process the same store and closes it with the last user.
    """

    engine = "chdb"
    _open: dict[Path, ChdbStore] = {}
    _open_lock = threading.Lock()

    @classmethod
    def open_shared(cls, path: Path | str) -> ChdbStore:
        """The process's chDB store, opened at ``path`` unless one is already open.

        chDB cannot open a second directory in one process; a caller asking for another
        path gets the open store (and a warning), which is what several app instances in
        one test process need. Data stays separated by org_id.
        """
        resolved = Path(path).resolve()
        with cls._open_lock:
            store = next(iter(cls._open.values()), None)
            if store is not None:
                store._refs += 1
                if store.path != resolved:
                    log.warning("chdb already open at %s; reusing it instead of %s", store.path, resolved)
                return store
        return cls(resolved)

    def __init__(self, path: Path | str) -> None:
        from .resident import cap_malloc_arenas

        # Before the engine starts its threads, each of which would otherwise get an arena of its own.
        cap_malloc_arenas()
        from chdb import session as chdb_session

        self.path = Path(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self._refs = 1
        # Only this process can open the directory, so it sees every write: its versions are the truth.
        self.versions = LocalVersions()
        # Each session is created on the worker thread it will always be used from. Reads also have a second session
        # on a thread of its own: chDB runs two sessions' statements at once, so independent reads overlap.
        self._worker = SingleThread("chdb")
        self._sessions = {w: w.submit(chdb_session.Session, str(self.path)).result()
                          for w in (self._worker, SingleThread("chdb-read"))}
        self._session = self._sessions[self._worker]
        self._readers = FirstFree(self._sessions)
        self._closed = False
        for session in self._sessions.values():
            for name, value in OUTPUT_SETTINGS.items():
                session.query(f"SET {name} = {int(value)}")
        with self._open_lock:
            self._open[self.path] = self

    def _live(self, session: Any = None) -> Any:
        if self._closed:
            raise RuntimeError("analytics store is closed")
        return session or self._session

    def _query(self, statement: str, params: dict | None, session: Any = None) -> bytes:
        return self._live(session).query(statement, "JSONEachRow", params=params).bytes()

    def _insert(self, statement: str, fmt: str, payload: bytes) -> None:
        with self._live().send_insert(statement, fmt) as ins:
            ins.append(payload)
            ins.finish()

    def _insert_table(self, statement: str, arrow_table: Any) -> None:
        # `Python(arrow_table)` in the statement names this argument: chDB finds it in this frame and reads its
        # buffers in place, where an Arrow IPC stream would be copied twice (the insert's peak memory halves).
        self._live().query(statement)

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        return decode_rows(await self._readers.run(self._query, sql, escape_params(bind_params(params))))

    async def command(self, sql: str, params: dict | None = None, *, usage_of: Collection[str] | None = None) -> None:
        await self._worker.run(self._query, sql, escape_params(bind_params(params)))
        await self._statement_done(sql, params, usage_of)

    async def insert_rows(self, rows: list[dict], *, table: str = TABLE, columns: list[str] | None = None) -> int:
        if not rows:
            return 0
        statement = insert_statement(table, columns or INSERT_COLUMNS)
        await self._worker.run(self._insert, statement, "JSONEachRow", encode_rows(rows))
        if table == TABLE:
            await self.usage_written(orgs_of_rows(rows))
        return len(rows)

    async def insert_arrow(self, data: Any, *, table: str = TABLE) -> int:
        if not data.num_rows:
            return 0
        statement = insert_statement(table, data.column_names) + " SELECT * FROM Python(arrow_table)"
        await self._worker.run(self._insert_table, statement, data)
        if table == TABLE:
            await self.usage_written(orgs_of_arrow(data))
        return data.num_rows

    async def release_memory(self) -> None:
        # chDB's allocator keeps freed pages for seconds (dirty_decay_ms) before handing them back:
        # during an import each batch's insert buffers would pile up on top of the next batch's.
        await self.command("SYSTEM JEMALLOC PURGE")

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

        for worker, session in self._sessions.items():  # the engine stops with its last session
            await worker.run(session.close)
            worker.shutdown()


class ClickHouseServerStore(AnalyticsStore):
    """A ClickHouse server over HTTP(S) through clickhouse-connect's threaded client.

    Results are fetched as JSONEachRow and decoded exactly like chDB's, so the same SQL
    yields the same Python values on both engines. ``client`` may be passed in (any
    object with clickhouse-connect's raw_query/raw_insert/command/close) for tests.
    """

    engine = "clickhouse"

    def __init__(self, url: str, *, client: Any | None = None, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self._client = client
        self._connect_timeout_s = connect_timeout_s
        self._client_lock = threading.Lock()
        # clickhouse-connect's sync client is not safe for concurrent queries that share
        # a session; a small pool of threads each talking HTTP is enough for analytics.
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="clickhouse")

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import clickhouse_connect

                self._client = clickhouse_connect.get_client(
                    dsn=self.url, autogenerate_session_id=False, settings=dict(OUTPUT_SETTINGS),
                    connect_timeout=self._connect_timeout_s,
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

    def _insert(self, table: str, columns: list[str], fmt: str, payload: bytes) -> None:
        self._get_client().raw_insert(
            table, columns, insert_block=payload, settings=dict(INSERT_SETTINGS), fmt=fmt
        )

    async def query(self, sql: str, params: dict | None = None) -> list[dict]:
        return decode_rows(await self._run(self._query, sql, bind_params(params)))

    async def command(self, sql: str, params: dict | None = None, *, usage_of: Collection[str] | None = None) -> None:
        await self._run(self._command, sql, bind_params(params))
        await self._statement_done(sql, params, usage_of)

    async def insert_rows(self, rows: list[dict], *, table: str = TABLE, columns: list[str] | None = None) -> int:
        if not rows:
            return 0
        await self._run(self._insert, table, columns or INSERT_COLUMNS, "JSONEachRow", encode_rows(rows))
        if table == TABLE:
            await self.usage_written(orgs_of_rows(rows))
        return len(rows)

    async def insert_arrow(self, data: Any, *, table: str = TABLE) -> int:
        if not data.num_rows:
            return 0
        await self._run(self._insert, table, list(data.column_names), "ArrowStream", arrow_stream(data))
        if table == TABLE:
            await self.usage_written(orgs_of_arrow(data))
        return data.num_rows

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.close)
        await self.versions.close()
        self._executor.shutdown(wait=False)


def open_analytics(settings: Any) -> AnalyticsStore:
    """The store the settings name: a ClickHouse server when CLICKHOUSE_URL is set, else chDB.

    The table is created if missing. This blocks briefly (schema DDL), so call it at
    start-up, not per request.
    """
    if settings.clickhouse_url:
        store: AnalyticsStore = ClickHouseServerStore(settings.clickhouse_url)
        if getattr(settings, "redis_url", None):
            # Every process of the deployment (and `spendpilot ingest`) writes the server: versions in Redis.
            store.share_usage_versions(redis_versions(settings.redis_url, settings.redis_prefix))
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
