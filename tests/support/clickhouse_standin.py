"""A stand-in ClickHouse server for tests: ClickHouse's HTTP interface over one embedded chDB session."""

# Run it as its own process, since chDB hosts one engine per process and the test process may
# hold one already: `python -m tests.support.clickhouse_standin --port 8123 --path DIR`, or
# `ClickHouseStandin(DIR).start()` from a test, whose `.url` goes into SPENDPILOT_CLICKHOUSE_URL.
# It serves what clickhouse-connect sends: GET/POST / with the query in the `query` parameter
# and/or the body (or multipart form fields), `param_<name>` values, settings as URL parameters,
# compressed request bodies, `INSERT ... FORMAT X` followed by data, and /ping.

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import lz4.frame

try:
    from backports import zstd
except ImportError:  # Python 3.14 has it in the standard library
    from compression import zstd  # type: ignore[no-redef]

from tests.support.server import free_port, stop_process

log = logging.getLogger("clickhouse_standin")

# URL parameters the HTTP layer of a ClickHouse server consumes itself; they are not
# query settings, and chDB would reject most of them as unknown. `readonly` is among
# them because once set on the shared session it could never be unset again.
TRANSPORT_PARAMS = frozenset({
    "query", "database", "default_format", "user", "password", "quota_key", "role", "query_id",
    "session_id", "session_timeout", "session_check", "buffer_size", "wait_end_of_query",
    "compress", "decompress", "client_protocol_version", "enable_http_compression",
    "send_progress_in_http_headers", "http_headers_progress_interval_ms", "readonly",
})
# Everything from INSERT up to `FORMAT name`, then at most one line break: what follows is data.
INSERT_WITH_DATA = re.compile(rb"(\s*INSERT\s+INTO\s.*?)\bFORMAT\s+(\w+)[ \t]*(?:\r?\n)?", re.IGNORECASE | re.DOTALL)
TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
# Statements that produce a result set; ClickHouse names the output format only for those.
HAS_RESULT = re.compile(r"\s*(?:\(|(?:SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN|CHECK)\b)", re.IGNORECASE)
CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8", "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent", "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8", "JSONCompact": "application/json; charset=UTF-8",
    "Native": "application/octet-stream", "RowBinary": "application/octet-stream",
    "Arrow": "application/octet-stream", "ArrowStream": "application/octet-stream",
    "Parquet": "application/octet-stream",
}
# ClickHouse answers parse errors with 400 and unknown names with 404; the rest are 500.
# Never 429/503/504: clickhouse-connect retries those.
BAD_REQUEST = {6, 26, 27, 53, 62, 115, 456, 457}
NOT_FOUND = {16, 46, 47, 50, 60, 81}
CHUNK = 1 << 20


class QueryError(Exception):
    """A failed query as ClickHouse reports it: numeric code and `Code: N. DB::Exception: ...` text."""

    def __init__(self, message: str, code: int | None = None) -> None:
        text = message[message.find("Code: "):] if "Code: " in message else message
        found = re.match(r"Code: (\d+)\. ", text)
        self.code = code if code is not None else int(found.group(1)) if found else 1001
        if not found:
            text = f"Code: {self.code}. DB::Exception: {text}"
        self.text = text.strip()
        super().__init__(self.text)


@dataclass
class Answer:
    body: bytes
    fmt: str | None  # output format; None for statements without a result set
    summary: dict


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Engine:
    """The chDB session, used only from its one thread: sessions are not safe across threads."""

    def __init__(self, path: str) -> None:
        from chdb import session as chdb_session

        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chdb")
        self._session = self._thread.submit(chdb_session.Session, path).result()
        # Settings requests have SET on the session, so the next request can drop or keep them.
        self._applied: dict[str, str] = {}
        answer = self._thread.submit(self._session.query, "SELECT version(), timezone()", "TabSeparated").result()
        self.version, self.timezone = answer.bytes().decode().strip().split("\t")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def close(self) -> None:
        self._thread.submit(self._session.close).result()
        self._thread.shutdown()

    def _use_settings(self, wanted: dict[str, str]) -> None:
        """Give the session exactly the request's settings, as a server gives each query its own."""
        for name in [n for n in self._applied if n not in wanted]:
            self._session.query(f"SET {name} = DEFAULT")
            del self._applied[name]
        for name, value in wanted.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise QueryError(f"Setting {name!r} is not an identifier. (UNKNOWN_SETTING)", 115)
            if self._applied.get(name) != value:
                self._session.query(f"SET {name} = {_quote(value)}")
                self._applied[name] = value

    def execute(self, text: bytes, settings: dict[str, str], params: dict[str, str], default_format: str) -> Answer:
        """Run one request's statement on the engine thread."""
        try:
            self._use_settings(settings)
            insert = INSERT_WITH_DATA.match(text)
            if insert:
                statement, fmt = insert.group(1).decode(), insert.group(2).decode()
                with self._session.send_insert(statement, fmt) as inserter:
                    if len(text) > insert.end():
                        inserter.append(text[insert.end():])
                    done = inserter.finish()
                return Answer(b"", None, {"written_rows": str(done.rows_written),
                                          "written_bytes": str(done.bytes_written),
                                          "elapsed_ns": str(int(done.elapsed * 1e9))})
            sql = text.decode()
            result = self._session.query(sql, default_format, params=params or None)
            body = result.bytes()
            named = TRAILING_FORMAT.search(sql)
            fmt = (named.group(1) if named else default_format) if HAS_RESULT.match(sql) else None
            return Answer(body, fmt, {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                                      "written_rows": str(result.rows_written()),
                                      "written_bytes": str(result.bytes_written()),
                                      "result_bytes": str(len(body)), "elapsed_ns": str(int(result.elapsed() * 1e9))})
        except (RuntimeError, ValueError) as exc:  # chDB's errors (RuntimeError) carry ClickHouse's text
            raise QueryError(str(exc)) from None


def decompress(body: bytes, encoding: str) -> bytes:
    """A request body as sent with Content-Encoding (clickhouse-connect's insert() uses lz4 by default)."""
    if encoding in ("", "identity"):
        return body
    codecs = {"gzip": gzip.decompress, "deflate": zlib.decompress, "lz4": lz4.frame.decompress,
              "zstd": zstd.decompress}
    if encoding not in codecs:
        raise QueryError(f"Unknown HTTP compression method {encoding!r}. (UNKNOWN_COMPRESSION_METHOD)", 211)
    try:
        return codecs[encoding](body)
    except (OSError, RuntimeError, EOFError, zlib.error, zstd.ZstdError) as exc:
        raise QueryError(f"Cannot decompress the {encoding} body: {exc}. (CANNOT_DECOMPRESS)", 271) from None


def make_app(path: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Route

    engine: Engine | None = None

    @asynccontextmanager
    async def lifespan(app: Any):
        nonlocal engine
        # uvicorn binds the port only after this, so an answered /ping means the engine is up.
        engine = await asyncio.to_thread(Engine, path)
        yield
        await asyncio.to_thread(engine.close)

    async def ping(request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def query(request: Request) -> Response:
        values = dict(request.query_params)
        if request.method in ("GET", "HEAD") and "query" not in values:
            return PlainTextResponse("Ok.\n")  # what ClickHouse answers on a bare GET /
        assert engine is not None
        headers = {"X-ClickHouse-Query-Id": values.get("query_id") or str(uuid.uuid4()),
                   "X-ClickHouse-Timezone": values.get("session_timezone") or engine.timezone,
                   "X-ClickHouse-Server-Display-Name": "clickhouse-standin"}
        try:
            body = await request.body()
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                # Long parameter values arrive as form fields (query and param_*) instead of the URL.
                async with request.form() as form:
                    values.update({k: v for k, v in form.items() if isinstance(v, str)})
                body = b""
            if values.get("decompress") == "1":
                raise QueryError(
                    "Native-compressed request bodies (decompress=1) are not supported. (NOT_IMPLEMENTED)", 48
                )
            body = decompress(body, request.headers.get("content-encoding", "").strip().lower())
            text = values.get("query", "").encode()
            # As ClickHouse does: the URL's query, a line break, then the body (a query's rest or insert data).
            text = text + b"\n" + body if text and body else text or body
            if not text.strip():
                raise QueryError("Empty query. (SYNTAX_ERROR)", 62)
            params = {k.removeprefix("param_"): v for k, v in values.items() if k.startswith("param_")}
            settings = {k: v for k, v in values.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")}
            output_format = values.get("default_format") or "TabSeparated"
            answer = await engine.run(engine.execute, text, settings, params, output_format)
        except QueryError as exc:
            log.warning("query failed: %s", exc.text)
            status = 400 if exc.code in BAD_REQUEST else 404 if exc.code in NOT_FOUND else 500
            headers["X-ClickHouse-Exception-Code"] = str(exc.code)
            return PlainTextResponse(f"{exc.text} (version {engine.version})\n", status, headers)
        headers["X-ClickHouse-Summary"] = json.dumps({"read_rows": "0", "read_bytes": "0", "written_rows": "0",
                                                      "written_bytes": "0", "total_rows_to_read": "0",
                                                      "result_rows": "0", "result_bytes": "0", **answer.summary})
        if answer.fmt:
            headers["X-ClickHouse-Format"] = answer.fmt
        media_type = CONTENT_TYPES.get(answer.fmt or "", "text/plain; charset=UTF-8")
        if len(answer.body) <= CHUNK:
            return Response(answer.body, headers=headers, media_type=media_type)
        # Large results go out in slices, so the socket's flow control paces them instead of one big buffer copy.
        view = memoryview(answer.body)
        chunks = (bytes(view[i:i + CHUNK]) for i in range(0, len(view), CHUNK))
        return StreamingResponse(chunks, headers=headers, media_type=media_type)

    return Starlette(routes=[Route("/ping", ping, methods=["GET", "HEAD"]),
                             Route("/", query, methods=["GET", "HEAD", "POST"])], lifespan=lifespan)


@dataclass
class ClickHouseStandin:
    """The stand-in in a subprocess on a free port; ``.url`` is what SPENDPILOT_CLICKHOUSE_URL takes."""

    path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.path.parent / f"{self.path.name}-standin.log"

    def start(self, timeout: float = 60.0) -> ClickHouseStandin:
        self.path.mkdir(parents=True, exist_ok=True)
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.clickhouse_standin", "--port", str(self.port),
                 "--path", str(self.path)], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clickhouse stand-in exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).text == "Ok.\n":
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"clickhouse stand-in did not answer /ping in {timeout}s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, "ClickHouse stand-in", self.log_path, sig=sig)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--path", required=True, help="chDB data directory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import uvicorn

    # A keep-alive longer than the clients' idle gaps, as ClickHouse's (30 s) is: a connection closed
    # by the server just as a client reuses it fails inserts, which clickhouse-connect never retries.
    uvicorn.run(make_app(str(Path(args.path).resolve())), host=args.host, port=args.port, log_level="warning",
                access_log=False, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
